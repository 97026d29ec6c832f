import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** One small JSON file per lab under a folder of the data directory; written atomically, removed by `down`. */
export interface LabStore<T> {
  read(lab: string): T | undefined;
  write(lab: string, value: T): void;
  remove(lab: string): void;
  /** The labs that have a record. */
  labs(): string[];
}

export function labStore<T>(dir: string): LabStore<T> {
  const file = (lab: string) => join(dir, `${lab}.json`);
  return {
    read(lab) {
      const f = file(lab);
      if (!existsSync(f)) return undefined;
      try {
        return JSON.parse(readFileSync(f, 'utf8')) as T;
      } catch {
        return undefined;
      }
    },
    write(lab, value) {
      mkdirSync(dir, { recursive: true });
      const tmp = `${file(lab)}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n');
      renameSync(tmp, file(lab));
    },
    remove(lab) {
      rmSync(file(lab), { force: true });
    },
    labs() {
      return existsSync(dir)
        ? readdirSync(dir)
            .filter((f) => f.endsWith('.json'))
            .map((f) => f.slice(0, -'.json'.length))
        : [];
    },
  };
}
