// The public API of seqgpu as data, read with the TypeScript compiler API (typescript 7's
// `typescript/unstable/sync`: the checker resolves src/index.ts's re-exports to their
// declarations; the AST gives each declaration's TSDoc and signature). Used by
// tools/check-docs.mjs (every export and public member has a doc comment) and
// tools/api-docs.mjs (docs/API.md).
//
//   const api = readApi();   // { entry, modules: [{ file, entries: [Entry] }] }
//   Entry  = { name, kind, file, line, signature, doc, members: [Member], params: [name] }
//   Member = { name, kind, static, line, signature, doc, params: [name] }
//   doc    = { summary, tags: [{ tag, name, text }] } | null
// Members tagged `@internal` (TSDoc) are not public: neither checked nor listed.
import { resolve, relative } from 'node:path';
import { API } from 'typescript/unstable/sync';
import { SyntaxKind } from 'typescript/unstable/ast';

const ALIAS = 2097152; // SymbolFlags.Alias

/**
 * Reads the public API: every symbol `entry` exports (following re-exports), grouped by the
 * file that declares it, files in the order index.ts first exports from them and entries in
 * declaration order.
 */
export function readApi({ root = process.cwd(), tsconfig = 'tsconfig.build.json', entry = 'src/index.ts' } = {}) {
  const api = new API({ cwd: root });
  try {
    const snapshot = api.updateSnapshot({ openProject: resolve(root, tsconfig) });
    const project = snapshot.getProjects()[0];
    const { checker, program } = project;
    const entryFile = program.getSourceFile(resolve(root, entry));
    if (!entryFile) throw new Error(`docs-model: ${entry} is not in ${tsconfig}`);
    const moduleSymbol = checker.getSymbolAtLocation(entryFile);
    const modules = new Map();
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const symbol = exported.flags & ALIAS ? checker.getAliasedSymbol(exported) : exported;
      const declarations = symbol.declarations.map((d) => d.resolve(project)).filter(Boolean);
      if (declarations.length === 0) throw new Error(`docs-model: no declaration for ${exported.name}`);
      const file = relative(root, declarations[0].getSourceFile().fileName);
      if (!modules.has(file)) modules.set(file, []);
      modules.get(file).push(describeEntry(exported.name, declarations, file, checker));
    }
    for (const entries of modules.values()) entries.sort((a, b) => a.pos - b.pos);
    return { entry, modules: [...modules].map(([file, entries]) => ({ file, entries })) };
  } finally {
    api.close();
  }
}

/** Every undocumented item of an API read by readApi, as `file:line name — what is missing`. */
export function missingDocs(apiModel) {
  const problems = [];
  const check = (where, doc, params, what) => {
    if (!doc || !doc.summary) problems.push(`${where} — ${what} has no doc comment`);
    else {
      const documented = new Set(doc.tags.filter((t) => t.tag === 'param').map((t) => t.name));
      for (const p of params) if (!documented.has(p)) problems.push(`${where} — no @param ${p}`);
    }
  };
  for (const { file, entries } of apiModel.modules) {
    for (const e of entries) {
      check(`${file}:${e.line} ${e.name}`, e.doc, e.params, `${e.kind} ${e.name}`);
      for (const m of e.members) {
        check(`${file}:${m.line} ${e.name}.${m.name}`, m.doc, m.params, `${m.kind} ${e.name}.${m.name}`);
      }
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------

function describeEntry(name, declarations, file, checker) {
  const first = declarations[0];
  const sf = first.getSourceFile();
  const base = { name, file, line: lineOf(first), pos: first.pos, members: [], params: [] };
  switch (first.kind) {
    case SyntaxKind.FunctionDeclaration: {
      // Overloads: the signatures without a body (the implementation is not public).
      const sigs = declarations.filter((d) => !d.body);
      const shown = sigs.length ? sigs : declarations;
      return {
        ...base,
        kind: 'function',
        signature: shown.map((d) => headerText(d, d.body, sf)).join('\n'),
        doc: firstDoc(shown),
        params: paramNames(shown),
      };
    }
    case SyntaxKind.ClassDeclaration:
      return {
        ...base,
        kind: 'class',
        signature: headerText(first, first.members, sf),
        doc: firstDoc([first]),
        members: classMembers(first, checker),
      };
    case SyntaxKind.InterfaceDeclaration:
      return {
        ...base,
        kind: 'interface',
        signature: headerText(first, first.members, sf),
        doc: firstDoc([first]),
        members: typeMembers(first.members, sf),
      };
    case SyntaxKind.TypeAliasDeclaration: {
      if (first.type.kind === SyntaxKind.TypeLiteral) {
        return {
          ...base,
          kind: 'type',
          signature: headerText(first, first.type.members, sf),
          doc: firstDoc([first]),
          members: typeMembers(first.type.members, sf),
        };
      }
      let signature = stripExport(clean(nodeText(first, sf)));
      if (/\btypeof\b/.test(signature)) {
        // `(typeof NAMES)[number]` says little: show what it expands to.
        const expanded = checker.typeToString(
          checker.getTypeAtLocation(first.name),
          undefined,
          8388608 /* InTypeAlias */ | 1 /* NoTruncation */,
        );
        if (expanded && expanded !== name) signature += `\n// = ${expanded}`;
      }
      return { ...base, kind: 'type', signature, doc: firstDoc([first]) };
    }
    case SyntaxKind.VariableDeclaration: {
      const statement = first.parent.parent;
      const keyword = first.parent.flags & 2 ? 'const' : first.parent.flags & 1 ? 'let' : 'var';
      const type = first.type
        ? clean(nodeText(first.type, sf))
        : checker.typeToString(checker.getTypeAtLocation(first.name));
      return { ...base, kind: 'const', signature: `${keyword} ${name}: ${type}`, doc: firstDoc([statement]) };
    }
    case SyntaxKind.EnumDeclaration:
      return { ...base, kind: 'enum', signature: stripExport(clean(nodeText(first, sf))), doc: firstDoc([first]) };
    default:
      throw new Error(`docs-model: ${name} is a ${SyntaxKind[first.kind]}, which this tool does not describe`);
  }
}

function classMembers(cls, checker) {
  return collectClassMembers(cls, checker).filter((m) => !isInternal(m.doc));
}

/** TSDoc `@internal`: not part of the public API (neither checked nor listed). */
function isInternal(doc) {
  return !!doc && doc.tags.some((t) => t.tag === 'internal');
}

function collectClassMembers(cls, checker) {
  const sf = cls.getSourceFile();
  const members = [];
  const overloads = new Map(); // name → the member already listed (methods with overloads)
  for (const m of cls.members) {
    if (!isPublic(m) && m.kind !== SyntaxKind.Constructor) continue;
    const isStatic = hasModifier(m, SyntaxKind.StaticKeyword);
    const name = m.kind === SyntaxKind.Constructor ? 'constructor' : m.name ? memberName(m.name, sf) : `[${m.kind}]`;
    const base = { name, static: isStatic, line: lineOf(m), doc: firstDoc([m]), params: [] };
    switch (m.kind) {
      case SyntaxKind.Constructor: {
        if (m.body && cls.members.some((o) => o !== m && o.kind === SyntaxKind.Constructor && !o.body)) continue;
        // A private or protected constructor is not listed, but its parameter properties are.
        if (isPublic(m))
          members.push({ ...base, kind: 'constructor', signature: headerText(m, m.body, sf), params: paramNames([m]) });
        // Parameter properties (`constructor(readonly gpu: Gpu)`) are public members documented by @param.
        for (const p of m.parameters) {
          if (!p.modifiers || !p.modifiers.length || !isPublic(p)) continue;
          const pName = nodeText(p.name, sf);
          const tag = base.doc?.tags.find((t) => t.tag === 'param' && t.name === pName);
          members.push({
            name: pName,
            kind: 'property',
            static: false,
            line: lineOf(p),
            params: [],
            signature: clean(sf.text.slice(p.getStart(sf), p.end)).replace(/\s*=.*$/, ''),
            doc: firstDoc([p]) ?? (tag ? { summary: tag.text, tags: [] } : null),
          });
        }
        break;
      }
      case SyntaxKind.MethodDeclaration: {
        const key = `${isStatic}:${name}`;
        if (overloads.has(key)) continue; // a later overload or the implementation of one listed
        const sigs = cls.members.filter(
          (o) =>
            o.kind === SyntaxKind.MethodDeclaration &&
            o.name &&
            memberName(o.name, sf) === name &&
            hasModifier(o, SyntaxKind.StaticKeyword) === isStatic,
        );
        const shown = sigs.some((s) => !s.body) ? sigs.filter((s) => !s.body) : sigs;
        const member = {
          ...base,
          kind: 'method',
          signature: shown.map((s) => headerText(s, s.body, sf)).join('\n'),
          doc: firstDoc(shown),
          params: paramNames(shown),
        };
        overloads.set(key, member);
        members.push(member);
        break;
      }
      case SyntaxKind.PropertyDeclaration: {
        let signature;
        if (m.type) signature = clean(sf.text.slice(m.getStart(sf), m.type.end));
        else {
          const head = clean(sf.text.slice(m.getStart(sf), m.name.end + (m.questionToken ? 1 : 0)));
          signature = `${head}: ${checker.typeToString(checker.getTypeAtLocation(m.name))}`;
        }
        members.push({ ...base, kind: 'property', signature });
        break;
      }
      case SyntaxKind.GetAccessor:
      case SyntaxKind.SetAccessor: {
        // A get/set pair is one property: listed once, documented on either half.
        const key = `${isStatic}:accessor:${name}`;
        const listed = overloads.get(key);
        const signature = headerText(m, m.body, sf);
        if (listed) {
          listed.signature += `\n${signature}`;
          if (!listed.doc) listed.doc = base.doc;
          continue;
        }
        const member = { ...base, kind: 'accessor', signature, params: [] };
        overloads.set(key, member);
        members.push(member);
        break;
      }
      case SyntaxKind.IndexSignature:
        members.push({ ...base, kind: 'index', signature: clean(nodeText(m, sf)) });
        break;
      case SyntaxKind.SemicolonClassElement:
      case SyntaxKind.ClassStaticBlockDeclaration:
        break;
      default:
        throw new Error(`docs-model: class member ${name} is a ${SyntaxKind[m.kind]}`);
    }
  }
  return members;
}

function typeMembers(list, sf) {
  return list
    .filter((m) => !isInternal(firstDoc([m])))
    .map((m) => {
      const name = m.name
        ? memberName(m.name, sf)
        : m.kind === SyntaxKind.CallSignature
          ? '(call)'
          : m.kind === SyntaxKind.ConstructSignature
            ? '(new)'
            : '[index]';
      const kind =
        m.kind === SyntaxKind.MethodSignature
          ? 'method'
          : m.kind === SyntaxKind.PropertySignature
            ? 'property'
            : 'signature';
      return {
        name,
        kind,
        static: false,
        line: lineOf(m),
        signature: clean(nodeText(m, sf)).replace(/[;,]$/, ''),
        doc: firstDoc([m]),
        params: [],
      };
    });
}

// --- helpers ----------------------------------------------------------------------------------

function isPublic(node) {
  if (node.name && node.name.kind === SyntaxKind.PrivateIdentifier) return false;
  return !hasModifier(node, SyntaxKind.PrivateKeyword) && !hasModifier(node, SyntaxKind.ProtectedKeyword);
}

function hasModifier(node, kind) {
  return !!node.modifiers && node.modifiers.some((m) => m.kind === kind);
}

function memberName(nameNode, sf) {
  return nodeText(nameNode, sf);
}

function paramNames(decls) {
  const names = [];
  for (const d of decls) {
    for (const p of d.parameters ?? []) {
      // Destructured parameters have no single name to document; a parameter with its own
      // doc comment (`constructor(/** … */ readonly gpu: Gpu)`) is documented there.
      if (p.name.kind !== SyntaxKind.Identifier || firstDoc([p])) continue;
      const n = p.name.getText(p.getSourceFile());
      if (n !== 'this' && !names.includes(n)) names.push(n);
    }
  }
  return names;
}

function lineOf(node) {
  const sf = node.getSourceFile();
  return sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
}

function nodeText(node, sf) {
  return sf.text.slice(node.getStart(sf), node.end);
}

/** The declaration's text from its first token (after the doc comment) up to `stop` (a body or a member list). */
function headerText(node, stop, sf) {
  const end = stop ? stop.pos : node.end;
  let text = clean(sf.text.slice(node.getStart(sf), end));
  text = text.replace(/\{$/, '').trim();
  return stripExport(text);
}

function stripExport(text) {
  return text
    .replace(/^export\s+(default\s+)?/, '')
    .replace(/^declare\s+/, '')
    .replace(/^async\s+/, '');
}

/** Source text with comments removed and whitespace collapsed (string and template literals kept). */
export function clean(text) {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += ' ';
    } else if (c === '/' && text[i + 1] === '*') {
      const j = text.indexOf('*/', i + 2);
      i = j < 0 ? text.length : j + 1;
      out += ' ';
    } else out += c;
  }
  return out
    .replace(/\s+/g, ' ')
    .replace(/\( /g, '(')
    .replace(/ \)/g, ')')
    .replace(/\[ /g, '[')
    .replace(/ \]/g, ']')
    .replace(/ ([,;])/g, '$1')
    .replace(/,\)/g, ')')
    .replace(/;\s*$/, '')
    .trim();
}

/** The doc comment closest to the first declaration that has one, parsed into summary + tags. */
function firstDoc(decls) {
  for (const d of decls) {
    const sf = d.getSourceFile();
    const docs = d.jsDoc;
    let raw = docs && docs.length ? sf.text.slice(docs[docs.length - 1].getStart(sf), docs[docs.length - 1].end) : null;
    if (!raw) {
      // The parser does not attach a doc comment on the line of an opening brace
      // (`{ /** x */ x: number }`): take the last one in the node's leading trivia.
      const trivia = sf.text.slice(d.pos, d.getStart(sf));
      const m = /\/\*\*(?:(?!\*\/)[\s\S])*\*\/(?=\s*$)/.exec(trivia);
      raw = m ? m[0] : null;
    }
    if (raw) {
      const parsed = parseDoc(raw);
      if (parsed.summary || parsed.tags.length) return parsed;
    }
  }
  return null;
}

/** Parses `/** … *\/` into { summary, tags: [{ tag, name, text }] } (TSDoc block tags, `@param name - text`). */
export function parseDoc(raw) {
  // A doc node's range may begin with the comments before it (`// …` lines, a trailing comment
  // of the previous line): skip to the `/**` that opens the doc comment itself.
  let text = raw.trim();
  for (;;) {
    if (text.startsWith('//')) text = text.slice(text.indexOf('\n') < 0 ? text.length : text.indexOf('\n')).trimStart();
    else if (text.startsWith('/*') && !text.startsWith('/**')) text = text.slice(text.indexOf('*/') + 2).trimStart();
    else break;
  }
  const body = text.replace(/^\/\*\*/, '').replace(/\*\/$/, '');
  const lines = body.split('\n').map((l) => l.replace(/^\s*\* ?/, '').replace(/\s+$/, ''));
  while (lines.length && !lines[0].trim()) lines.shift();
  while (lines.length && !lines[lines.length - 1].trim()) lines.pop();
  const summary = [];
  const tags = [];
  let inFence = false;
  for (const line of lines) {
    if (/^\s*```/.test(line)) inFence = !inFence;
    const m = !inFence && /^@(\w+)\s*(.*)$/.exec(line.trim());
    if (m) {
      const [, tag, rest] = m;
      if (tag === 'param' || tag === 'typeParam') {
        const p = /^(?:\{[^}]*\}\s*)?\[?([\w$.]+)[^\s-]*\]?\s*(?:-\s*)?(.*)$/.exec(rest);
        tags.push({ tag, name: p ? p[1] : rest, text: p ? p[2] : '' });
      } else tags.push({ tag, name: '', text: rest });
    } else if (tags.length) {
      const last = tags[tags.length - 1];
      last.text = last.text ? `${last.text}\n${line}` : line;
    } else summary.push(line);
  }
  for (const t of tags) t.text = t.text.replace(/^\n+|\s+$/g, '');
  return { summary: summary.join('\n').trim(), tags };
}
