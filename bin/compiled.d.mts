export const STAMP: string;
export const COMPILED_CLI: string;
export function sourcesDigest(root: string): string;
export function compiledIsCurrent(root: string): boolean;
