export interface CodeBlock {
  /** The info string's first word, lower case (`ts`, `bash`, …; '' for none). */
  lang: string;
  /** The whole info string. */
  info: string;
  /** The block's text, without the fences. */
  code: string;
  /** 1-based line of the block's first code line. */
  line: number;
}
export function codeBlocks(markdown: string): CodeBlock[];
export function tsBlocks(markdown: string): CodeBlock[];
export function typecheckReadme(opts?: { root?: string; readme?: string; examples?: string[] }): {
  blocks: number;
  files: string[];
  ok: boolean;
  diagnostics: string[];
  output: string;
};
