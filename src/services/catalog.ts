import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { templatesDir } from '../paths.js';

/**
 * A service is a folder under templates/services/: `service.yaml` (description
 * and parameter schema) and `cloud-config.yaml.hbs` (a cloud-init fragment).
 */
/**
 * Parameter types. `interface` is one of the VM's own interface names
 * (nics[].name, default eth<index>); `enum` takes `values`; `string` is one
 * line (no control characters), so no value can inject lines into a
 * configuration file a service writes.
 */
export type ParamType = 'string' | 'int' | 'port' | 'bool' | 'ipv4' | 'cidr' | 'ifname' | 'interface' | 'hostname' | 'domain' | 'network' | 'mac' | 'enum';

export interface ParamSpec {
  type: ParamType | 'list' | 'object';
  items?: ParamType | 'object';
  /** For type or items `object`: the fields. */
  fields?: Record<string, ParamSpec>;
  /** For `enum`. */
  values?: string[];
  required?: boolean;
  default?: unknown;
  description?: string;
  min?: number;
  max?: number;
}

export interface ServiceDef {
  name: string;
  description: string;
  /** Services this one is useless without on the same VM (nat needs router). */
  requires: string[];
  params: Record<string, ParamSpec>;
  template: string;
  templatePath: string;
  /** `ready.yaml.hbs`: the probes that say this service works (a YAML list of ready: probes). */
  readyTemplate?: { path: string; source: string };
}

export interface ServiceCatalog {
  names(): string[];
  get(name: string): ServiceDef | undefined;
}

export function loadServiceCatalog(dir = join(templatesDir, 'services')): ServiceCatalog {
  const defs = new Map<string, ServiceDef>();
  if (existsSync(dir)) {
    for (const name of readdirSync(dir).sort()) {
      const specPath = join(dir, name, 'service.yaml');
      const templatePath = join(dir, name, 'cloud-config.yaml.hbs');
      const readyPath = join(dir, name, 'ready.yaml.hbs');
      if (!existsSync(specPath)) continue;
      const spec = YAML.parse(readFileSync(specPath, 'utf8')) as { description?: string; requires?: string[]; params?: Record<string, ParamSpec> };
      defs.set(name, {
        name,
        description: spec.description ?? '',
        requires: spec.requires ?? [],
        params: spec.params ?? {},
        template: readFileSync(templatePath, 'utf8'),
        templatePath,
        ...(existsSync(readyPath) ? { readyTemplate: { path: readyPath, source: readFileSync(readyPath, 'utf8') } } : {}),
      });
    }
  }
  return { names: () => [...defs.keys()], get: (n) => defs.get(n) };
}

let cached: ServiceCatalog | undefined;
export function defaultServiceCatalog(): ServiceCatalog {
  return (cached ??= loadServiceCatalog());
}
