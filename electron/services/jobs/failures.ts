// Failures in the user's words. A full disk is the one worth naming: the user can fix it and
// resume, and nothing already written is lost (SQLite rolls the failed write back).
export function failureText(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  const message = e instanceof Error ? e.message : String(e);
  // 'storage': ProjectDatabase.write already said it in the user's words.
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'storage') {
    return `the disk holding the project is full (${message})`;
  }
  return message;
}
