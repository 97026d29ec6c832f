import { readFileSync } from 'node:fs';
import { LabError, VmlabError } from '../errors.js';
import { sha256Hex } from '../util/hash.js';
import { bridgeNameFor } from '../lab/names.js';
import { defaultServiceCatalog, type ServiceCatalog } from '../services/catalog.js';
import { Checker } from './checker.js';
import type { LabModel } from './model.js';
import { YamlSource } from './source.js';
import { validateLab } from './validate.js';

export interface LoadOptions {
  services?: ServiceCatalog;
  knownImages?: readonly string[];
}

/** Parse and validate lab text. Throws LabError listing every problem found. */
export function parseLab(file: string, text: string, opts: LoadOptions = {}): LabModel {
  const source = new YamlSource(file, text);
  const syntax = source.syntaxIssues();
  if (syntax.length > 0) throw new LabError(syntax);
  let raw: unknown;
  try {
    raw = source.toJS();
  } catch (e) {
    throw new LabError([{ file, path: '', message: `YAML could not be read: ${(e as Error).message}`, hint: 'avoid deeply nested aliases (*anchor)' }]);
  }
  const c = new Checker(source);
  const model = validateLab(c, raw, sha256Hex(text), {
    services: opts.services ?? defaultServiceCatalog(),
    bridgeName: bridgeNameFor,
    ...(opts.knownImages ? { knownImages: opts.knownImages } : {}),
  });
  if (!model || !c.ok) {
    throw new LabError(c.issues.length > 0 ? c.issues : [{ file, path: '', message: 'lab is invalid' }]);
  }
  return model;
}

export function loadLab(file: string, opts: LoadOptions = {}): LabModel {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new VmlabError('ERR_VMLAB_LAB_READ', `cannot read lab file ${file}: ${code ?? (e as Error).message}`, {
      kind: 'user',
      hint: code === 'ENOENT' ? 'check the path; example labs are in labs/' : undefined,
      cause: e,
    });
  }
  return parseLab(file, text, opts);
}
