export interface PackResult {
  filename: string;
  files: { path: string; size: number }[];
}
export function packAndInstall(root?: string): { dir: string; app: string; pack: PackResult; cleanup(): void };
export function linkFromRepo(app: string, names: string[], root?: string): void;
