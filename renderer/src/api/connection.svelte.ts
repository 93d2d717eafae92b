// How the UI is connected to the services, shown in the banner: a browser session can lose its
// server (network, restart) and must say so rather than fail silently.
export type ConnectionState = 'connecting' | 'online' | 'offline' | 'needs-token';

class Connection {
  state = $state<ConnectionState>('connecting');
  /** Set when the server came back as a different process: the project must be reopened there. */
  restarts = $state(0);
  serverId: string | null = null;
}

export const connection = new Connection();
