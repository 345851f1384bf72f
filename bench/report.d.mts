import type { BenchReport } from './stats.js';
export function printReport(report: BenchReport): void;
export function writeReport(report: BenchReport, dir?: string): Promise<string>;
