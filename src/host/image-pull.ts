import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { VmlabError } from '../errors.js';
import { findChecksum, type CatalogEntry } from '../images/catalog.js';
import { downloadResumable, fetchText, verifyOrDelete, type DownloadEvents } from './download.js';
import { importImage } from './image-import.js';
import type { ImageInfo, ImageStore } from './image-store.js';

/** Downloads a catalog image (resuming), verifies it, and adds it to the store. */
export async function pullImage(store: ImageStore, entry: CatalogEntry, events: DownloadEvents & { step?(s: string): void } = {}): Promise<ImageInfo> {
  store.ensure();
  const fileName = new URL(entry.url).pathname.split('/').pop()!;
  let expected = entry.checksum;
  if (!expected && entry.checksumUrl) {
    events.step?.(`checksum file ${entry.checksumUrl}`);
    expected = findChecksum(await fetchText(entry.checksumUrl), fileName);
    if (!expected) throw new VmlabError('ERR_VMLAB_CHECKSUM_MISSING', `${entry.checksumUrl} lists no checksum for ${fileName}`, { hint: 'the catalog entry may be outdated' });
  }
  if (!expected) throw new VmlabError('ERR_VMLAB_CHECKSUM_MISSING', `catalog entry ${entry.name} has neither checksum nor checksum-url`);
  // Resumable partial download: kept across interrupted runs, deleted on mismatch or success.
  const partial = join(store.dir, `.${entry.name}.download`);
  events.step?.(`downloading ${entry.url}`);
  await downloadResumable(entry.url, partial, events);
  events.step?.(`verifying ${entry.algorithm}`);
  await verifyOrDelete(partial, entry.algorithm, expected);
  events.step?.('adding to the image cache');
  try {
    return await importImage(store, partial, entry.name, 'pull', { sha256: entry.algorithm === 'sha256' ? expected : undefined, origin: entry.url });
  } finally {
    rmSync(partial, { force: true });
  }
}
