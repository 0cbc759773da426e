import { defineConfig } from '@playwright/test';
import base from './playwright.config';

// Benchmarks: print numbers, assert nothing about timing. `npx playwright test -c bench.config.ts`.
export default defineConfig({
  ...base,
  testDir: './bench',
  testMatch: '*.bench.ts',
  timeout: 600_000,
});
