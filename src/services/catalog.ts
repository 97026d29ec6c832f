import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { templatesDir } from '../paths.js';

/**
 * A service is a folder under templates/services/: `service.yaml` (description
 * and parameter schema) and `cloud-config.yaml.hbs` (a cloud-init fragment).
 */
export type ParamType = 'string' | 'int' | 'port' | 'bool' | 'ipv4' | 'cidr' | 'ifname' | 'hostname' | 'network';

export interface ParamSpec {
  type: ParamType | 'list';
  items?: ParamType | 'object';
  /** For items: object, the fields of each item. */
  fields?: Record<string, ParamSpec>;
  required?: boolean;
  default?: unknown;
  description?: string;
  min?: number;
  max?: number;
}

export interface ServiceDef {
  name: string;
  description: string;
  params: Record<string, ParamSpec>;
  template: string;
  templatePath: string;
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
      if (!existsSync(specPath)) continue;
      const spec = YAML.parse(readFileSync(specPath, 'utf8')) as { description?: string; params?: Record<string, ParamSpec> };
      defs.set(name, {
        name,
        description: spec.description ?? '',
        params: spec.params ?? {},
        template: readFileSync(templatePath, 'utf8'),
        templatePath,
      });
    }
  }
  return { names: () => [...defs.keys()], get: (n) => defs.get(n) };
}

let cached: ServiceCatalog | undefined;
export function defaultServiceCatalog(): ServiceCatalog {
  return (cached ??= loadServiceCatalog());
}
