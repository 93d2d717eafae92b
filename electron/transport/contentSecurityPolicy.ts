// The Content-Security-Policy of the UI, the same in the desktop window and in a browser: only the
// app's own scripts and styles, images from the app or from blobs the app made (image files and heat
// maps arrive through the API as bytes), connections only back to where the UI came from.
export const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

/** Headers sent with every UI file, by the HTTP server and by the desktop app's own protocol. */
export const uiSecurityHeaders: Record<string, string> = {
  'Content-Security-Policy': contentSecurityPolicy,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
};
