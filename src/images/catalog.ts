import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { VmlabError } from '../errors.js';
import { closest } from '../util/names.js';
import { imagesDir } from '../paths.js';

export interface CatalogEntry {
  name: string;
  description: string;
  url: string;
  /** Expected digest, hex; or a checksum file to look it up in. */
  checksum?: string;
  checksumUrl?: string;
  algorithm: 'sha256' | 'sha512';
}

export function loadCatalog(file = process.env.VMLAB_CATALOG ?? join(imagesDir, 'catalog.yaml')): CatalogEntry[] {
  if (!existsSync(file)) return [];
  const doc = YAML.parse(readFileSync(file, 'utf8')) as { images?: Record<string, Record<string, string>> };
  return Object.entries(doc.images ?? {}).map(([name, e]) => ({
    name,
    description: e.description ?? '',
    url: e.url!,
    ...(e.checksum ? { checksum: e.checksum.toLowerCase() } : {}),
    ...(e['checksum-url'] ? { checksumUrl: e['checksum-url'] } : {}),
    algorithm: (e.algorithm as 'sha256' | 'sha512') ?? 'sha256',
  }));
}

export function catalogEntry(name: string, catalog = loadCatalog()): CatalogEntry {
  const e = catalog.find((c) => c.name === name);
  if (!e) {
    const guess = closest(
      name,
      catalog.map((c) => c.name),
    );
    throw new VmlabError('ERR_VMLAB_IMAGE_NOT_IN_CATALOG', `"${name}" is not in the image catalog`, {
      kind: 'user',
      hint: (guess ? `did you mean "${guess}"? ` : '') + `catalog: ${catalog.map((c) => c.name).join(', ')}`,
    });
  }
  return e;
}

/**
 * Finds the digest of `fileName` in a checksum file: GNU style ("<hex>  name"
 * or "<hex> *name") or BSD style ("SHA256 (name) = <hex>").
 */
export function findChecksum(text: string, fileName: string): string | undefined {
  for (const line of text.split('\n')) {
    const gnu = /^([0-9a-fA-F]{64,128})\s+\*?(.+?)\s*$/.exec(line);
    if (gnu && (gnu[2] === fileName || gnu[2]!.endsWith('/' + fileName))) return gnu[1]!.toLowerCase();
    const bsd = /^SHA(?:256|512)\s*\((.+)\)\s*=\s*([0-9a-fA-F]{64,128})\s*$/.exec(line);
    if (bsd && bsd[1] === fileName) return bsd[2]!.toLowerCase();
  }
  return undefined;
}
