// Folder names say who may import what: the renderer sees only electron/common, the engine in
// native/ knows nothing of Electron or the demo resources, electron/common runs in a browser, the
// transport only maps API methods to services, and electron/ modules import each other without
// cycles. Imports are read from the sources as text, so the rules hold for type-only imports too.
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

interface Import {
  /** The file, relative to the repository root. */
  from: string;
  specifier: string;
  /** The imported file relative to the repository root; null for packages and built-ins. */
  to: string | null;
}

const importPattern =
  /(?:^|[\s;}])(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Every module specifier in a TypeScript or Svelte source. */
export function specifiersOf(source: string): string[] {
  return [...source.matchAll(importPattern)].map((m) => (m[1] ?? m[2])!);
}

function sourceFiles(folder: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules') continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (/\.(ts|cts|mts|svelte)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) found.push(full);
    }
  };
  walk(path.join(root, folder));
  return found;
}

/** `./x.js` names the TypeScript source `./x.ts` (NodeNext); other extensions are as written. */
function resolveRelative(file: string, specifier: string): string {
  const target = path.resolve(path.dirname(file), specifier);
  const asTs = target.replace(/\.(c|m)?js$/, (_, kind: string | undefined) => `.${kind ?? ''}ts`);
  return path.relative(root, fs.existsSync(asTs) ? asTs : target);
}

function importsOf(folder: string): Import[] {
  return sourceFiles(folder).flatMap((file) =>
    specifiersOf(fs.readFileSync(file, 'utf8')).map((specifier) => ({
      from: path.relative(root, file),
      specifier,
      to: specifier.startsWith('.') ? resolveRelative(file, specifier) : null,
    })),
  );
}

const isBuiltin = (specifier: string) =>
  specifier.startsWith('node:') || builtinModules.includes(specifier.split('/')[0]!);
const inside = (file: string | null, folder: string) => file !== null && file.startsWith(`${folder}/`);
const show = (imports: Import[]) => imports.map((i) => `${i.from} imports ${i.specifier}`);

/** The strongly connected components of more than one module, or of one importing itself. */
export function cycles(edges: Map<string, Set<string>>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string) => {
    index.set(node, counter);
    low.set(node, counter++);
    stack.push(node);
    onStack.add(node);
    for (const next of edges.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) low.set(node, Math.min(low.get(node)!, index.get(next)!));
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1 || edges.get(node)?.has(node)) found.push(component.sort());
  };
  for (const node of edges.keys()) if (!index.has(node)) visit(node);
  return found;
}

describe('the import reader', () => {
  it('finds static, type-only, re-exported, side-effect and dynamic imports', () => {
    const source = [
      "import { a } from './a.js';",
      "import type { B } from '../b.js';",
      "export type * from './c.js';",
      "export { d } from 'd-package';",
      "import './styles.css';",
      "const e = await import('node:fs');",
      '<script lang="ts">\n  import Thing from \'./Thing.svelte\';\n</script>',
    ].join('\n');
    expect(specifiersOf(source)).toEqual([
      './a.js',
      '../b.js',
      './c.js',
      'd-package',
      './styles.css',
      'node:fs',
      './Thing.svelte',
    ]);
  });

  it('finds a cycle of two modules and a module importing itself, and none in a chain', () => {
    const graph = (pairs: [string, string][]) => {
      const edges = new Map<string, Set<string>>();
      for (const [a, b] of pairs) edges.set(a, (edges.get(a) ?? new Set()).add(b));
      return edges;
    };
    expect(
      cycles(
        graph([
          ['a', 'b'],
          ['b', 'c'],
          ['c', 'a'],
          ['c', 'd'],
        ]),
      ),
    ).toEqual([['a', 'b', 'c']]);
    expect(cycles(graph([['a', 'a']]))).toEqual([['a']]);
    expect(
      cycles(
        graph([
          ['a', 'b'],
          ['b', 'c'],
        ]),
      ),
    ).toEqual([]);
  });
});

describe('import boundaries', () => {
  it('renderer/src imports only renderer/, electron/common/** and browser packages', () => {
    const imports = importsOf('renderer/src');
    expect(imports.some((i) => inside(i.to, 'electron/common'))).toBe(true);
    const wrong = imports.filter((i) =>
      i.to === null ? isBuiltin(i.specifier) : !inside(i.to, 'renderer') && !inside(i.to, 'electron/common'),
    );
    expect(show(wrong)).toEqual([]);
  });

  it('native/ imports neither electron/ nor resources/', () => {
    const wrong = importsOf('native').filter((i) => inside(i.to, 'electron') || inside(i.to, 'resources'));
    expect(show(wrong)).toEqual([]);
  });

  it('electron/common/** imports no Node built-in and nothing outside electron/common', () => {
    const wrong = importsOf('electron/common').filter((i) =>
      i.to === null ? isBuiltin(i.specifier) : !inside(i.to, 'electron/common'),
    );
    expect(show(wrong)).toEqual([]);
  });

  it('electron/transport reaches the project only through the services: no database, no engine', () => {
    const wrong = importsOf('electron/transport').filter((i) => inside(i.to, 'electron/db') || inside(i.to, 'native'));
    expect(show(wrong)).toEqual([]);
  });

  it('electron/ modules import each other without a cycle', () => {
    const edges = new Map<string, Set<string>>();
    for (const i of importsOf('electron')) {
      if (!inside(i.to, 'electron')) continue;
      edges.set(i.from, (edges.get(i.from) ?? new Set()).add(i.to!));
    }
    expect(edges.size).toBeGreaterThan(50);
    expect(cycles(edges)).toEqual([]);
  });
});
