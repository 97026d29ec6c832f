import Handlebars from 'handlebars';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { templatesDir } from '../paths.js';
import { netmaskString } from '../util/ipv4.js';
import { escapeRegExp } from '../util/regex.js';

/**
 * Two handlebars instances, one per output language.
 *
 * XML: handlebars' HTML escaping (&, <, >, ", ', `, =) produces valid XML
 * character references, so plain `{{value}}` is safe in elements and
 * attributes. `{{comment x}}` makes text safe inside <!-- -->.
 *
 * YAML: HTML escaping would corrupt values (an ssh key ending in "=="), so the
 * YAML instance never escapes and templates must write `{{yaml value}}`, which
 * JSON-encodes (JSON is YAML). A test rejects any other `{{expr}}` in YAML templates.
 */
export const xmlHandlebars = Handlebars.create();
xmlHandlebars.registerHelper(
  'comment',
  (v: unknown) =>
    new xmlHandlebars.SafeString(
      String(v ?? '')
        .replace(/-{2,}/g, '-')
        .replace(/-$/, '- ')
        .replace(/[\r\n]+/g, ' '),
    ),
);

export const yamlHandlebars = Handlebars.create();
yamlHandlebars.registerHelper('yaml', (v: unknown) => new yamlHandlebars.SafeString(JSON.stringify(v ?? null)));
yamlHandlebars.registerHelper('concat', (...args: unknown[]) => args.slice(0, -1).map(String).join(''));
yamlHandlebars.registerHelper('join', (list: unknown, sep: unknown) => (Array.isArray(list) ? list.map(String).join(String(sep)) : ''));
yamlHandlebars.registerHelper('eq', (a: unknown, b: unknown) => a === b);
yamlHandlebars.registerHelper('or', (...args: unknown[]) => args.slice(0, -1).find((a) => a !== undefined && a !== null && a !== '' && a !== false));
yamlHandlebars.registerHelper('includes', (list: unknown, v: unknown) => Array.isArray(list) && list.includes(v));
yamlHandlebars.registerHelper('netmask', (prefix: unknown) => netmaskString(Number(prefix)));
/** A literal string inside a regular expression (readiness probes match addresses and prefixes). */
yamlHandlebars.registerHelper('regex', (v: unknown) => escapeRegExp(String(v ?? '')));
yamlHandlebars.registerHelper('html', (v: unknown) => Handlebars.Utils.escapeExpression(String(v ?? '')));
/**
 * `content: {{#text}}…{{/text}}`: the block renders a configuration file as
 * plain text and comes out JSON-encoded (one YAML scalar). Values inside a
 * block are bare, which is safe because service parameters are typed and
 * one-line (see ParamType): they cannot break out of their line.
 */
yamlHandlebars.registerHelper('text', function (this: unknown, options: Handlebars.HelperOptions) {
  // A closing {{/text}} alone on its line swallows its newline (handlebars standalone rule): give it back.
  return new yamlHandlebars.SafeString(JSON.stringify(options.fn(this)) + '\n');
});

const cache = new Map<string, Handlebars.TemplateDelegate>();

export function xmlTemplate(name: string): Handlebars.TemplateDelegate {
  let t = cache.get(name);
  if (!t) {
    t = xmlHandlebars.compile(readFileSync(join(templatesDir, name), 'utf8'), { strict: true, preventIndent: true });
    cache.set(name, t);
  }
  return t;
}

export function yamlTemplate(key: string, source: string): Handlebars.TemplateDelegate {
  let t = cache.get('yaml:' + key);
  if (!t) {
    t = yamlHandlebars.compile(source, { strict: true, noEscape: true, preventIndent: true });
    cache.set('yaml:' + key, t);
  }
  return t;
}
