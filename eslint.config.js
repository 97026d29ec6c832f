// ESLint (flat config): the recommended JavaScript and typescript-eslint rules on src/ and test/.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config({ ignores: ['dist/', 'node_modules/', 'bench-results/'] }, js.configs.recommended, ...tseslint.configs.recommended, {
  files: ['**/*.ts'],
  rules: {
    // Unused names are compile errors already (tsconfig noUnusedLocals); `_x` marks a deliberate one.
    '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    // Control characters in regular expressions are deliberate (one-line checks, ANSI escapes).
    'no-control-regex': 'off',
  },
}, {
  // The page script of vmlab serve runs in the browser, as a plain script.
  files: ['src/serve/public/**/*.js'],
  languageOptions: {
    sourceType: 'script',
    globals: Object.fromEntries(['document', 'window', 'location', 'fetch', 'FormData', 'URLSearchParams', 'WebSocket', 'setInterval', 'clearInterval', 'setTimeout', 'Terminal', 'console'].map((g) => [g, 'readonly'])),
  },
}, {
  // The test run's mocha reporter: CommonJS, loaded by mocha with require().
  files: ['test/**/*.cjs'],
  languageOptions: { sourceType: 'commonjs', globals: Object.fromEntries(['require', 'module', 'process'].map((g) => [g, 'readonly'])) },
  rules: { '@typescript-eslint/no-require-imports': 'off' },
});
