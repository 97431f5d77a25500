/**
 * No import cycles in src/ (issue 17): a cycle makes module load order decide whether a binding
 * is initialised yet, and ties layers together that DESIGN.md keeps one-way. ESLint's rules see
 * one file at a time, so this walks the whole graph with the TypeScript compiler's own module
 * resolution (`./x.js` → `x.ts`), type-only imports and re-exports included.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = path.dirname(fileURLToPath(import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(file);
    const isSource = /\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts');
    return isSource && !/\.test\.tsx?$/.test(entry.name) ? [file] : [];
  });
}

/** Each file under src/ → the files under src/ it imports (packages are left out). */
function importGraph(): Map<string, string[]> {
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
  };
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets = importedFiles.flatMap(({ fileName }) => {
      const resolved = ts.resolveModuleName(fileName, file, options, ts.sys).resolvedModule;
      if (!resolved || resolved.isExternalLibraryImport === true) return [];
      const target = path.resolve(resolved.resolvedFileName);
      return target.startsWith(SRC + path.sep) ? [target] : [];
    });
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/** The strongly connected components with more than one file, or a file importing itself. */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (file: string): void => {
    index.set(file, index.size);
    low.set(file, index.get(file) ?? 0);
    stack.push(file);
    onStack.add(file);
    for (const next of graph.get(file) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(file, Math.min(low.get(file) ?? 0, low.get(next) ?? 0));
      } else if (onStack.has(next)) {
        low.set(file, Math.min(low.get(file) ?? 0, index.get(next) ?? 0));
      }
    }
    if (low.get(file) !== index.get(file)) return;
    const component: string[] = [];
    for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
      onStack.delete(top);
      component.push(top);
      if (top === file) break;
    }
    if (component.length > 1 || graph.get(file)?.includes(file)) found.push(component);
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return found;
}

describe('the src/ import graph', () => {
  const graph = importGraph();
  const rel = (file: string) => path.relative(SRC, file).split(path.sep).join('/');

  it('resolves relative imports to the files they name', () => {
    // Guards the check below: a graph without edges would have no cycles either.
    const edges = (file: string) => (graph.get(path.join(SRC, file)) ?? []).map(rel);
    expect(edges('meta/sql-store.ts')).toContain('meta/sql-tx.ts');
    expect(edges('meta/sql-store.ts')).toContain('meta/store.ts'); // a type-only import
    expect(edges('app.ts').length).toBeGreaterThan(5);
  });

  it('has no cycles', () => {
    // Each entry: the files of one cycle, and the imports among them that close it.
    const report = cycles(graph).map((component) =>
      component
        .flatMap((file) =>
          (graph.get(file) ?? [])
            .filter((next) => component.includes(next))
            .map((next) => `${rel(file)} → ${rel(next)}`),
        )
        .sort(),
    );
    expect(report).toEqual([]);
  });
});
