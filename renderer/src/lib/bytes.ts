// Memory sizes as people read them: GiB with one decimal, MiB below one GiB (a small model's
// "0.0 GiB" said nothing).
export function bytesText(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${Math.ceil(bytes / 2 ** 20)} MiB`;
}
