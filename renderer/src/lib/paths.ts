// Path arithmetic for paths of the machine that runs the services (POSIX or Windows), done in the
// browser where node:path does not exist.

function separatorOf(p: string): string {
  return p.includes('\\') && !p.includes('/') ? '\\' : '/';
}

export function basename(p: string): string {
  const trimmed = p.replace(/[\\/]+$/, '');
  return trimmed.slice(Math.max(trimmed.lastIndexOf('/'), trimmed.lastIndexOf('\\')) + 1);
}

export function dirname(p: string): string {
  const trimmed = p.replace(/[\\/]+$/, '');
  const at = Math.max(trimmed.lastIndexOf('/'), trimmed.lastIndexOf('\\'));
  return at <= 0 ? trimmed.slice(0, at + 1) || trimmed : trimmed.slice(0, at);
}

export function join(folder: string, name: string): string {
  const sep = separatorOf(folder);
  return folder.endsWith(sep) ? folder + name : folder + sep + name;
}

/** `birds/` → `birds/birds.skp`: a new project's file sits in its image folder, named after it. */
export function projectFileFor(imageFolder: string): string {
  return join(imageFolder, `${basename(imageFolder) || 'project'}.skp`);
}
