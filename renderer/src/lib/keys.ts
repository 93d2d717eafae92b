// Which key presses belong to the view's shortcuts: all of them except while the user types. A
// checkbox or slider that was just clicked keeps focus but no claim on the keys.
export function isTyping(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  return !!el?.closest?.('textarea, select, [contenteditable], input:not([type=checkbox]):not([type=range])');
}
