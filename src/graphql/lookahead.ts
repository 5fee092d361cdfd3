import {
  type FieldNode,
  type GraphQLField,
  type GraphQLResolveInfo,
  getArgumentValues,
  getNamedType,
  isObjectType,
  Kind,
  type SelectionSetNode,
} from 'graphql';

/**
 * Looking ahead from a resolver into the rest of its query, so a list can read what its items will ask
 * for in the same statement (docs/adr/0016-one-statement-per-page.md). It only ever lets a resolver read
 * more at once: whatever it finds, the nested resolver still checks that what was read is what it needs,
 * and reads for itself when not.
 */

/** The field nodes a selection set asks for under a name, through aliases and fragments. */
function fieldsNamed(set: SelectionSetNode, name: string, info: GraphQLResolveInfo, out: FieldNode[]): void {
  for (const s of set.selections) {
    if (s.kind === Kind.FIELD) {
      if (s.name.value === name) out.push(s);
    } else if (s.kind === Kind.INLINE_FRAGMENT) {
      fieldsNamed(s.selectionSet, name, info, out);
    } else {
      const fragment = info.fragments[s.name.value];
      if (fragment) fieldsNamed(fragment.selectionSet, name, info, out);
    }
  }
}

/** The names a selection set asks for, through fragments (aliases give their field's name). */
function namesIn(set: SelectionSetNode, info: GraphQLResolveInfo, out: Set<string>): void {
  for (const s of set.selections) {
    if (s.kind === Kind.FIELD) out.add(s.name.value);
    else if (s.kind === Kind.INLINE_FRAGMENT) namesIn(s.selectionSet, info, out);
    else {
      const fragment = info.fragments[s.name.value];
      if (fragment) namesIn(fragment.selectionSet, info, out);
    }
  }
}

/** The field names asked below the field at `path`, over all its nodes; null when it is not asked. */
export function fieldNamesAt(info: GraphQLResolveInfo, path: readonly string[]): Set<string> | null {
  const found = fieldsAt(info, path);
  if (!found) return null;
  const names = new Set<string>();
  for (const node of found.nodes) if (node.selectionSet) namesIn(node.selectionSet, info, names);
  return names;
}

/** Every node of the field at `path` below the field being resolved, with its definition; null when none. */
export function fieldsAt(
  info: GraphQLResolveInfo,
  path: readonly string[],
): { nodes: FieldNode[]; field: GraphQLField<unknown, unknown> } | null {
  let nodes: readonly FieldNode[] = info.fieldNodes;
  let type = getNamedType(info.returnType);
  let field: GraphQLField<unknown, unknown> | undefined;
  for (const name of path) {
    if (!isObjectType(type)) return null;
    field = type.getFields()[name];
    if (!field) return null;
    const next: FieldNode[] = [];
    for (const node of nodes) if (node.selectionSet) fieldsNamed(node.selectionSet, name, info, next);
    if (next.length === 0) return null;
    nodes = next;
    type = getNamedType(field.type);
  }
  return field ? { nodes: [...nodes], field } : null;
}

/**
 * The arguments the field at `path` is asked with (defaults applied, variables substituted), when the query
 * asks for it with one set of arguments; null when it does not ask for it or asks with several (two aliases
 * with different pages), or when its arguments are invalid (the field's own resolver reports that).
 */
export function argumentsAt(
  info: GraphQLResolveInfo,
  path: readonly string[],
): Record<string, unknown> | null {
  const found = fieldsAt(info, path);
  if (!found) return null;
  try {
    const [first, ...rest] = found.nodes.map((node) =>
      getArgumentValues(found.field, node, info.variableValues),
    );
    const key = JSON.stringify(first);
    return rest.every((args) => JSON.stringify(args) === key) ? (first ?? null) : null;
  } catch {
    return null;
  }
}
