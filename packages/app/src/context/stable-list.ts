/**
 * A list whose items keep their identity across updates, matched by a key: a `<For>` over it
 * keeps each item's elements, and the focus in them, when the list is rebuilt from new objects (a
 * refetch, a late event). Over the plain list, a message's update replaced its whole item, so a
 * stop marker a person had focused was taken from under them.
 */
import { type Accessor, createComputed } from "solid-js"
import { createStore, reconcile } from "solid-js/store"

/** The property the key is kept in, on each item of the stable list. */
const KEY = "stableKey"

export function stableList<T extends object>(
  list: Accessor<readonly T[] | undefined>,
  key: (item: T) => string,
): Accessor<readonly T[]> {
  const [store, setStore] = createStore<{ items: (T & { [KEY]: string })[] }>({ items: [] })
  createComputed(() => {
    const items = (list() ?? []).map((item) => ({ ...item, [KEY]: key(item) }))
    setStore("items", reconcile(items, { key: KEY }))
  })
  return () => store.items
}
