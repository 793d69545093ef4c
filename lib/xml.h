/* xml: a small element tree for stanzas.
 *
 * Every element carries its namespace URI explicitly (xml_ns), whatever
 * prefixes the peer used, so handlers compare namespaces and never prefixes.
 * The serializer writes an xmlns attribute only where an element's namespace
 * differs from its parent's: lean output, which matters because the host
 * server re-parses every byte we send.
 *
 * Ownership: a node owns its attributes, text and children. A child added
 * with xml_append() is owned by its parent from then on; xml_free() on the
 * root frees the whole tree. Strings returned by accessors live as long as
 * the node. */
#ifndef STOA_XML_H
#define STOA_XML_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

typedef struct xml_node xml_node;

/* New element named `name` in namespace `ns` (NULL: inherit the parent's at
 * serialization). Returns NULL on OOM. */
xml_node *xml_new(const char *name, const char *ns);
/* New text node (len bytes of UTF-8, not escaped). */
xml_node *xml_new_text(const char *text, size_t len);
void xml_free(xml_node *n);
/* Deep copy, or NULL on OOM. */
xml_node *xml_copy(const xml_node *n);

bool xml_is_text(const xml_node *n);
const char *xml_name(const xml_node *n);
/* Namespace URI, or NULL when it was never set (inherits from parent). */
const char *xml_ns(const xml_node *n);
int xml_set_ns(xml_node *n, const char *ns);
/* Moves n and every descendant in namespace `from` to namespace `to`: a
 * stanza passing from a server stream (jabber:server) to a component stream
 * (jabber:component:accept) or back. 0, or -1 on OOM (partly moved). */
int xml_move_ns(xml_node *n, const char *from, const char *to);

/* Attributes are unprefixed except xml:lang-style names written literally
 * ("xml:lang"). Setting NULL removes. Return 0 or -1 on OOM. */
int xml_set_attr(xml_node *n, const char *name, const char *value);
const char *xml_attr(const xml_node *n, const char *name);
size_t xml_attr_count(const xml_node *n);
/* i-th attribute, for iteration; returns false when out of range. */
bool xml_attr_at(const xml_node *n, size_t i, const char **name, const char **value);

/* Takes ownership of child. Returns child (for chaining) or NULL if parent
 * is a text node (child is then freed). */
xml_node *xml_append(xml_node *parent, xml_node *child);
/* Convenience: new element child; NULL on OOM. */
xml_node *xml_append_new(xml_node *parent, const char *name, const char *ns);
/* Convenience: appends a text child; returns 0 or -1. */
int xml_append_text(xml_node *parent, const char *text);
/* Unlinks and frees the first child matching name/ns (NULL matches any). */
void xml_remove_child(xml_node *parent, xml_node *child);

xml_node *xml_first_child(const xml_node *n);
xml_node *xml_next(const xml_node *n);
/* First element child with this name (NULL: any) and namespace (NULL: any). */
xml_node *xml_child(const xml_node *n, const char *name, const char *ns);
/* Number of element children (text nodes not counted). */
size_t xml_element_count(const xml_node *n);
/* Text content of a text node, or the concatenated direct text children of
 * an element. Returned string is owned by the node (cached) or NULL on OOM. */
const char *xml_text(xml_node *n);

/* Serializes n; `parent_ns` is the namespace in scope (the stream's content
 * namespace for a top-level stanza), so no xmlns is written for it.
 * Returns 0 or -1 on OOM. */
int xml_serialize(const xml_node *n, buf *out, const char *parent_ns);
/* Serialized copy as a string for logs and tests; caller frees. */
char *xml_to_string(const xml_node *n, const char *parent_ns);

#endif
