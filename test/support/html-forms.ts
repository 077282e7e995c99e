/** Just enough HTML form parsing for scripted logins: forms, their action and fields. */
export interface HtmlForm {
  id?: string;
  method: string;
  /** Absolute URL the form posts to. */
  action: string;
  /** Named inputs with their values (hidden ones included); buttons are left out. */
  fields: Record<string, string>;
  /** Names of `type=password` inputs. */
  passwordFields: string[];
}

export function parseForms(html: string, baseUrl: string | URL): HtmlForm[] {
  const forms: HtmlForm[] = [];
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attributes = parseAttributes(match[1] ?? '');
    const fields: Record<string, string> = {};
    const passwordFields: string[] = [];
    for (const input of (match[2] ?? '').matchAll(/<input\b([^>]*)>/gi)) {
      const inputAttributes = parseAttributes(input[1] ?? '');
      const name = inputAttributes['name'];
      const type = (inputAttributes['type'] ?? 'text').toLowerCase();
      if (!name || type === 'submit' || type === 'button') continue;
      fields[name] = inputAttributes['value'] ?? '';
      if (type === 'password') passwordFields.push(name);
    }
    forms.push({
      id: attributes['id'],
      method: (attributes['method'] ?? 'get').toLowerCase(),
      action: new URL(attributes['action'] ?? '', baseUrl).href,
      fields,
      passwordFields,
    });
  }
  return forms;
}

function parseAttributes(source: string): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const match of source.matchAll(/([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/g)) {
    const name = (match[1] ?? '').toLowerCase();
    attributes[name] = decodeEntities(match[2] ?? match[3] ?? match[4] ?? '');
  }
  return attributes;
}

function decodeEntities(text: string): string {
  return text.replace(/&(#x[\da-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_all, entity: string) => {
    const lower = entity.toLowerCase();
    if (lower.startsWith('#x')) return String.fromCodePoint(parseInt(lower.slice(2), 16));
    if (lower.startsWith('#')) return String.fromCodePoint(parseInt(lower.slice(1), 10));
    return ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" } as Record<string, string>)[lower] ?? '';
  });
}
