#!/usr/bin/env node
/**
 * Fails when a function in src/ is longer than MAX_LINES lines (from its first to its last line), so the
 * code stays made of small named steps. Declarative tables may be longer: they are listed in ALLOWED with
 * the reason. Usage: node scripts/check-function-length.mjs [dir ...]   (default: src)
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";

const MAX_LINES = 80;
/** "file:function" → why it may be longer. */
const ALLOWED = new Map([
  ["src/cli/main.ts:buildProgram", "a declarative table of commands and flags, one entry per command"],
]);

function* sourceFiles(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* sourceFiles(path);
    else if (/\.(ts|mts|tsx)$/.test(name) && !name.endsWith(".d.ts")) yield path;
  }
}

function nameOf(node) {
  if (node.name && ts.isIdentifier(node.name)) return node.name.text;
  const parent = node.parent;
  if (parent && ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (parent && ts.isPropertyAssignment(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  return "(anonymous)";
}

const isFunction = (n) =>
  ts.isFunctionDeclaration(n) ||
  ts.isMethodDeclaration(n) ||
  ts.isFunctionExpression(n) ||
  ts.isArrowFunction(n) ||
  ts.isConstructorDeclaration(n) ||
  ts.isGetAccessorDeclaration(n) ||
  ts.isSetAccessorDeclaration(n);

/** Every function of one file with its length in lines. */
export function functionLengths(path, text) {
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const found = [];
  const visit = (node) => {
    if (isFunction(node) && node.body) {
      const first = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const last = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      found.push({ name: nameOf(node), line: first + 1, lines: last - first + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

const dirs = process.argv.slice(2);
const problems = [];
for (const dir of dirs.length > 0 ? dirs : ["src"]) {
  for (const path of sourceFiles(dir)) {
    const file = relative(process.cwd(), path);
    for (const f of functionLengths(file, readFileSync(path, "utf8"))) {
      if (f.lines > MAX_LINES && !ALLOWED.has(`${file}:${f.name}`)) problems.push({ file, ...f });
    }
  }
}
for (const p of problems) {
  console.error(`${p.file}:${p.line}: function ${p.name} is ${p.lines} lines (at most ${MAX_LINES})`);
}
if (problems.length > 0) {
  console.error(`${problems.length} function(s) over ${MAX_LINES} lines: split them into named steps`);
  process.exit(1);
}
console.log(`function length: every function in ${dirs.join(", ") || "src"} is at most ${MAX_LINES} lines`);
