// Default colours of keypoint indices: distinguishable from each other and on photos
// (Kelly's 22 colours of maximum contrast, without white and black).
export const INDEX_PALETTE: readonly string[] = [
  '#f3c300',
  '#875692',
  '#f38400',
  '#a1caf1',
  '#be0032',
  '#c2b280',
  '#848482',
  '#008856',
  '#e68fac',
  '#0067a5',
  '#f99379',
  '#604e97',
  '#f6a600',
  '#b3446c',
  '#dcd300',
  '#882d17',
  '#8db600',
  '#654522',
  '#e25822',
  '#2b3d26',
];

export function defaultIndexColour(position: number): string {
  return INDEX_PALETTE[position % INDEX_PALETTE.length] as string;
}
