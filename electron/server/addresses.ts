// Which addresses reach `skp serve` and which Host headers name it. Binding to all interfaces
// (0.0.0.0, ::) keeps the Host check: a page on another site could still point a DNS name at this
// machine (DNS rebinding), so only this machine's own names and addresses are answered.
import net from 'node:net';
import os from 'node:os';

const loopbackNames = ['127.0.0.1', 'localhost', '[::1]'];

export function isLoopback(host: string): boolean {
  return loopbackNames.includes(hostForUrl(host.toLowerCase())) || /^127\./.test(host);
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]' || host === '';
}

/** How `host` is written in a URL or a Host header: IPv6 in brackets. */
export function hostForUrl(host: string): string {
  return net.isIPv6(host) ? `[${host}]` : host;
}

/**
 * The addresses a browser can use to reach a server bound to `host`, the most useful first (other
 * machines' view before loopback). IPv6 link-local addresses are left out: they need a zone id,
 * which browsers do not take.
 */
export function reachingAddresses(host: string): string[] {
  if (!isWildcard(host)) return [host];
  const ipv4Only = host === '0.0.0.0';
  const interfaces = Object.values(os.networkInterfaces()).flatMap((list) => list ?? []);
  const usable = interfaces.filter(
    (i) => (i.family === 'IPv4' || !ipv4Only) && !(i.family === 'IPv6' && /^fe[89ab]/i.test(i.address)),
  );
  const external = usable.filter((i) => !i.internal).map((i) => i.address);
  const internal = usable.filter((i) => i.internal).map((i) => i.address);
  return [...new Set([...external, ...internal])];
}

/** The Host header names a server bound to `host` answers to (lower case, IPv6 in brackets). */
export function answeredHostNames(host: string): Set<string> {
  const names = new Set(loopbackNames);
  for (const address of reachingAddresses(host)) names.add(hostForUrl(address.toLowerCase()));
  if (!isLoopback(host)) names.add(os.hostname().toLowerCase());
  return names;
}

/** The host named by a Host header, port removed; null when the header is not a host. */
export function hostOfHeader(header: string | undefined): string | null {
  const value = (header ?? '').trim().toLowerCase();
  const bracketed = /^(\[[0-9a-f:.]+\])(?::\d+)?$/.exec(value);
  if (bracketed) return bracketed[1] as string;
  const plain = /^([^:[\]]+)(?::\d+)?$/.exec(value);
  return plain ? (plain[1] as string) : null;
}
