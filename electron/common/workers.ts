// The GPUs a user names in text ("all", "0,1"), read the same by the command line (--gpus) and
// the app's training panel.

/** "all" or GPU numbers separated by commas; otherwise what is wrong, in the user's words. */
export function gpusOfText(text: string): { gpus: 'all' | number[] } | { error: string } {
  const trimmed = text.trim();
  if (trimmed === 'all') return { gpus: 'all' };
  const parts = trimmed.split(',').map((p) => p.trim());
  if (parts.some((p) => !/^\d{1,3}$/.test(p))) {
    return { error: `GPUs must be "all" or GPU numbers separated by commas such as 0,1, not "${text}"` };
  }
  return { gpus: parts.map(Number) };
}

/**
 * What is wrong with a Redis URL the app is to keep in the project, or null. A password is
 * refused: the project file travels (copied, shared), so the password goes in SKP_REDIS_PASSWORD
 * where the app runs instead.
 */
export function savedRedisUrlProblem(url: string): string | null {
  let parsed: URL | null = null;
  try {
    parsed = new URL(url);
  } catch {
    // Not a URL at all: said below.
  }
  if (!parsed || !['redis:', 'rediss:'].includes(parsed.protocol) || !parsed.hostname) {
    return `The Redis server must be a URL such as redis://host:6379 (rediss:// for TLS), not "${url}"`;
  }
  if (parsed.password || parsed.username) {
    return 'The project file would keep this password: give the URL without it and set SKP_REDIS_PASSWORD where the app runs';
  }
  return null;
}
