/**
 * A per-directory async lock: routes that change an instance's context (git init, a config
 * write) hold it across the change and the close, so `load` and the watcher cannot race them.
 */
export class DirectoryLock {
  private readonly tails = new Map<string, Promise<void>>()

  isHeld(key: string): boolean {
    return this.tails.has(key)
  }

  /**
   * Resolves once every current holder of `key` has finished, without taking the lock itself:
   * for waiters (like `load`) that must not look like holders to one another.
   */
  async idle(key: string): Promise<void> {
    for (let tail = this.tails.get(key); tail; tail = this.tails.get(key)) await tail
  }

  /**
   * Runs `fn` once every earlier holder of `key` has finished.
   *
   * @example await locks.run(key, async () => { await gitInit(dir); await store.reload(...) })
   */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve()
    let release!: () => void
    const mine = new Promise<void>((resolve) => (release = resolve))
    const tail = before.then(() => mine)
    this.tails.set(key, tail)
    await before
    try {
      return await fn()
    } finally {
      release()
      if (this.tails.get(key) === tail) this.tails.delete(key)
    }
  }
}
