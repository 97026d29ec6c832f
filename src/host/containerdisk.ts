import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, renameSync, rmSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';

/** QEMU's user and group in KubeVirt's virt-launcher: the disk must be readable by them. */
const QEMU_UID = 107;
const MT = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
} as const;

interface Blob {
  digest: string;
  size: number;
}

export interface ContainerDiskResult {
  file: string;
  /** `<name>:<tag>`, the reference the archive's index names. */
  reference: string;
  manifest: Blob;
  layer: Blob;
}

/** Adds one entry to `pack`: a buffer, or a stream of exactly header.size bytes. */
async function addEntry(pack: tar.Pack, header: Parameters<tar.Pack['entry']>[0], body: Readable | Buffer): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const entry = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    if (Buffer.isBuffer(body)) entry.end(body);
    else body.on('error', reject).pipe(entry);
  });
}

/**
 * An OCI image archive (`oci-archive:`) that KubeVirt's containerDisk takes:
 * one uncompressed layer holding `disk/<name>.qcow2` owned by QEMU's user
 * (107), a config for linux/amd64, the manifest, and an index naming
 * `<name>:<tag>`. Built offline, with no container daemon: the layer is
 * written and hashed first, then the archive streams it.
 */
export async function writeContainerDisk(disk: string, name: string, tag: string, out: string): Promise<ContainerDiskResult> {
  const layerFile = `${out}.layer-${process.pid}`;
  const tmp = `${out}.partial-${process.pid}`;
  try {
    // 1. The layer: disk/ and the image in it.
    const layer = tar.pack();
    const hash = createHash('sha256');
    let size = 0;
    const written = pipeline(
      layer,
      async function* (chunks: AsyncIterable<unknown>) {
        for await (const c of chunks) {
          const b = c as Buffer;
          hash.update(b);
          size += b.length;
          yield b;
        }
      },
      createWriteStream(layerFile),
    );
    const owner = { uid: QEMU_UID, gid: QEMU_UID, uname: 'qemu', gname: 'qemu', mtime: new Date(0) };
    await addEntry(layer, { name: 'disk/', type: 'directory', mode: 0o555, ...owner }, Buffer.alloc(0));
    await addEntry(layer, { name: `disk/${name}.qcow2`, type: 'file', mode: 0o440, size: statSync(disk).size, ...owner }, createReadStream(disk));
    layer.finalize();
    await written;
    const layerBlob: Blob = { digest: `sha256:${hash.digest('hex')}`, size };

    // 2. Config, manifest, index: small JSON blobs.
    const json = (o: unknown) => Buffer.from(JSON.stringify(o));
    const blob = (b: Buffer): Blob => ({ digest: `sha256:${createHash('sha256').update(b).digest('hex')}`, size: b.length });
    const config = json({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layerBlob.digest] }, config: {} });
    const configBlob = blob(config);
    const manifest = json({
      schemaVersion: 2,
      mediaType: MT.manifest,
      config: { mediaType: MT.config, ...configBlob },
      layers: [{ mediaType: MT.layer, ...layerBlob }],
      annotations: {
        'org.opencontainers.image.title': name,
        'org.opencontainers.image.version': tag,
        'org.opencontainers.image.description': `vmlab image ${name} (${basename(disk)}) as a KubeVirt containerDisk`,
      },
    });
    const manifestBlob = blob(manifest);
    const index = json({ schemaVersion: 2, manifests: [{ mediaType: MT.manifest, ...manifestBlob, annotations: { 'org.opencontainers.image.ref.name': `${name}:${tag}` } }] });

    // 3. The archive: the OCI layout, with the blobs under their digests.
    const pack = tar.pack();
    const done = pipeline(pack, createWriteStream(tmp));
    const file = (n: string, b: Buffer) => addEntry(pack, { name: n, mode: 0o644, size: b.length, mtime: new Date(0) }, b);
    const hex = (b: Blob) => b.digest.slice('sha256:'.length);
    await file('oci-layout', json({ imageLayoutVersion: '1.0.0' }));
    await file('index.json', index);
    await addEntry(pack, { name: 'blobs/', type: 'directory', mode: 0o755, mtime: new Date(0) }, Buffer.alloc(0));
    await addEntry(pack, { name: 'blobs/sha256/', type: 'directory', mode: 0o755, mtime: new Date(0) }, Buffer.alloc(0));
    await file(`blobs/sha256/${hex(configBlob)}`, config);
    await file(`blobs/sha256/${hex(manifestBlob)}`, manifest);
    await addEntry(pack, { name: `blobs/sha256/${hex(layerBlob)}`, mode: 0o644, size: layerBlob.size, mtime: new Date(0) }, createReadStream(layerFile));
    pack.finalize();
    await done;
    renameSync(tmp, out);
    return { file: out, reference: `${name}:${tag}`, manifest: manifestBlob, layer: layerBlob };
  } finally {
    rmSync(layerFile, { force: true });
    rmSync(tmp, { force: true });
  }
}
