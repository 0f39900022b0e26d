import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores: onnxruntime already uses threads inside each test.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
