// Messages to the user at the bottom of the window: what went wrong, in words, and what was kept.
import { messageOf } from '../api/index.js';

export interface Notice {
  id: number;
  kind: 'error' | 'info';
  text: string;
}

class Notices {
  list = $state<Notice[]>([]);
  private next = 1;

  show(kind: Notice['kind'], text: string): void {
    const notice = { id: this.next++, kind, text };
    this.list = [...this.list.slice(-4), notice];
    if (kind === 'info') setTimeout(() => this.dismiss(notice.id), 6000);
  }

  error(error: unknown): void {
    this.show('error', messageOf(error));
  }

  dismiss(id: number): void {
    this.list = this.list.filter((n) => n.id !== id);
  }
}

export const notices = new Notices();
