/** Text from an imported file made safe to print: no control characters or terminal escapes, bounded length. */
export function plain(text: string, maxLen = 128): string {
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, " ")
  return clean.length > maxLen ? `${clean.slice(0, maxLen - 1)}…` : clean
}
