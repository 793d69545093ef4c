#include "xml.h"

#include <stdlib.h>
#include <string.h>

typedef struct xml_attribute {
    char *name;
    char *value;
} xml_attribute;

struct xml_node {
    xml_node *next;
    xml_node *first_child, *last_child;
    char *name; /* NULL for a text node */
    char *ns;
    /* Text node: its content. Element: cached concatenation of its direct
     * text children (xml_text), dropped whenever children change. */
    char *text;
    size_t text_len;
    xml_attribute *attrs;
    size_t nattrs, attrcap;
};

xml_node *xml_new(const char *name, const char *ns)
{
    xml_node *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->name = strdup(name);
    if (!n->name || (ns && !(n->ns = strdup(ns)))) {
        xml_free(n);
        return NULL;
    }
    return n;
}

xml_node *xml_new_text(const char *text, size_t len)
{
    xml_node *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->text = malloc(len + 1);
    if (!n->text) {
        free(n);
        return NULL;
    }
    memcpy(n->text, text, len);
    n->text[len] = '\0';
    n->text_len = len;
    return n;
}

void xml_free(xml_node *n)
{
    /* Iterative over siblings so a long child list does not recurse deeply;
     * depth is bounded by the parser's limits. */
    if (!n)
        return;
    xml_node *c = n->first_child;
    while (c) {
        xml_node *next = c->next;
        xml_free(c);
        c = next;
    }
    for (size_t i = 0; i < n->nattrs; i++) {
        free(n->attrs[i].name);
        free(n->attrs[i].value);
    }
    free(n->attrs);
    free(n->name);
    free(n->ns);
    free(n->text);
    free(n);
}

xml_node *xml_copy(const xml_node *n)
{
    xml_node *c = n->name ? xml_new(n->name, n->ns) : xml_new_text(n->text, n->text_len);
    if (!c)
        return NULL;
    for (size_t i = 0; i < n->nattrs; i++) {
        if (xml_set_attr(c, n->attrs[i].name, n->attrs[i].value) < 0)
            goto fail;
    }
    for (const xml_node *ch = n->first_child; ch; ch = ch->next) {
        xml_node *cc = xml_copy(ch);
        if (!cc)
            goto fail;
        xml_append(c, cc);
    }
    return c;
fail:
    xml_free(c);
    return NULL;
}

bool xml_is_text(const xml_node *n)
{
    return n->name == NULL;
}

const char *xml_name(const xml_node *n)
{
    return n->name;
}

const char *xml_ns(const xml_node *n)
{
    return n->ns;
}

int xml_set_ns(xml_node *n, const char *ns)
{
    char *copy = NULL;
    if (ns && !(copy = strdup(ns)))
        return -1;
    free(n->ns);
    n->ns = copy;
    return 0;
}

int xml_move_ns(xml_node *n, const char *from, const char *to)
{
    if (xml_is_text(n))
        return 0;
    if (xml_ns(n) && strcmp(xml_ns(n), from) == 0 && xml_set_ns(n, to) < 0)
        return -1;
    for (xml_node *c = xml_first_child(n); c; c = xml_next(c))
        if (xml_move_ns(c, from, to) < 0)
            return -1;
    return 0;
}

int xml_set_attr(xml_node *n, const char *name, const char *value)
{
    for (size_t i = 0; i < n->nattrs; i++) {
        if (strcmp(n->attrs[i].name, name) != 0)
            continue;
        if (!value) {
            free(n->attrs[i].name);
            free(n->attrs[i].value);
            n->attrs[i] = n->attrs[--n->nattrs];
            return 0;
        }
        char *v = strdup(value);
        if (!v)
            return -1;
        free(n->attrs[i].value);
        n->attrs[i].value = v;
        return 0;
    }
    if (!value)
        return 0;
    if (n->nattrs == n->attrcap) {
        size_t cap = n->attrcap ? n->attrcap * 2 : 4;
        xml_attribute *a = realloc(n->attrs, cap * sizeof *a);
        if (!a)
            return -1;
        n->attrs = a;
        n->attrcap = cap;
    }
    char *nm = strdup(name), *v = strdup(value);
    if (!nm || !v) {
        free(nm);
        free(v);
        return -1;
    }
    n->attrs[n->nattrs].name = nm;
    n->attrs[n->nattrs].value = v;
    n->nattrs++;
    return 0;
}

const char *xml_attr(const xml_node *n, const char *name)
{
    for (size_t i = 0; i < n->nattrs; i++) {
        if (strcmp(n->attrs[i].name, name) == 0)
            return n->attrs[i].value;
    }
    return NULL;
}

size_t xml_attr_count(const xml_node *n)
{
    return n->nattrs;
}

bool xml_attr_at(const xml_node *n, size_t i, const char **name, const char **value)
{
    if (i >= n->nattrs)
        return false;
    *name = n->attrs[i].name;
    *value = n->attrs[i].value;
    return true;
}

static void drop_text_cache(xml_node *n)
{
    if (n->name && n->text) {
        free(n->text);
        n->text = NULL;
        n->text_len = 0;
    }
}

xml_node *xml_append(xml_node *parent, xml_node *child)
{
    if (!parent->name) {
        xml_free(child);
        return NULL;
    }
    drop_text_cache(parent);
    child->next = NULL;
    if (parent->last_child)
        parent->last_child->next = child;
    else
        parent->first_child = child;
    parent->last_child = child;
    return child;
}

xml_node *xml_append_new(xml_node *parent, const char *name, const char *ns)
{
    xml_node *c = xml_new(name, ns);
    return c ? xml_append(parent, c) : NULL;
}

int xml_append_text(xml_node *parent, const char *text)
{
    /* Tolerates a NULL parent so that building a reply can chain calls and
     * check for OOM once at the end. */
    if (!parent)
        return -1;
    xml_node *t = xml_new_text(text, strlen(text));
    return t && xml_append(parent, t) ? 0 : -1;
}

void xml_remove_child(xml_node *parent, xml_node *child)
{
    xml_node *prev = NULL;
    for (xml_node *c = parent->first_child; c; prev = c, c = c->next) {
        if (c != child)
            continue;
        if (prev)
            prev->next = c->next;
        else
            parent->first_child = c->next;
        if (parent->last_child == c)
            parent->last_child = prev;
        drop_text_cache(parent);
        c->next = NULL;
        xml_free(c);
        return;
    }
}

xml_node *xml_first_child(const xml_node *n)
{
    return n->first_child;
}

xml_node *xml_next(const xml_node *n)
{
    return n->next;
}

xml_node *xml_child(const xml_node *n, const char *name, const char *ns)
{
    for (xml_node *c = n->first_child; c; c = c->next) {
        if (!c->name)
            continue;
        if (name && strcmp(c->name, name) != 0)
            continue;
        if (ns && (!c->ns || strcmp(c->ns, ns) != 0))
            continue;
        return c;
    }
    return NULL;
}

size_t xml_element_count(const xml_node *n)
{
    size_t k = 0;
    for (xml_node *c = n->first_child; c; c = c->next)
        k += c->name != NULL;
    return k;
}

const char *xml_text(xml_node *n)
{
    if (!n->name || n->text)
        return n->text;
    buf b = BUF_INIT;
    for (xml_node *c = n->first_child; c; c = c->next) {
        if (!c->name && buf_append(&b, c->text, c->text_len) < 0) {
            buf_free(&b);
            return NULL;
        }
    }
    n->text = buf_strdup(&b);
    n->text_len = n->text ? b.len : 0;
    buf_free(&b);
    return n->text;
}

/* Attributes in a namespace other than xml: carry "uri local" names from the
 * parser; they are written with a generated prefix declared on the spot. The
 * split is at the last space: a local name has none, a namespace name may. */
static int serialize_attr(buf *out, const char *name, const char *value, unsigned *gen)
{
    const char *sp = strrchr(name, ' ');
    if (sp) {
        unsigned k = (*gen)++;
        if (buf_printf(out, " xmlns:a%u=\"", k) < 0 ||
            buf_append_xml_escaped(out, name, (size_t)(sp - name)) < 0 ||
            buf_printf(out, "\" a%u:%s=\"", k, sp + 1) < 0)
            return -1;
    } else if (buf_append(out, " ", 1) < 0 || buf_puts(out, name) < 0 ||
               buf_append(out, "=\"", 2) < 0) {
        return -1;
    }
    if (buf_append_xml_escaped(out, value, strlen(value)) < 0 || buf_append(out, "\"", 1) < 0)
        return -1;
    return 0;
}

int xml_serialize(const xml_node *n, buf *out, const char *parent_ns)
{
    if (!n->name)
        return buf_append_xml_escaped(out, n->text, n->text_len);
    const char *ns = n->ns ? n->ns : parent_ns;
    if (buf_append(out, "<", 1) < 0 || buf_puts(out, n->name) < 0)
        return -1;
    if (n->ns && (!parent_ns || strcmp(n->ns, parent_ns) != 0)) {
        if (buf_append(out, " xmlns=\"", 8) < 0 ||
            buf_append_xml_escaped(out, n->ns, strlen(n->ns)) < 0 || buf_append(out, "\"", 1) < 0)
            return -1;
    }
    unsigned gen = 0;
    for (size_t i = 0; i < n->nattrs; i++) {
        if (serialize_attr(out, n->attrs[i].name, n->attrs[i].value, &gen) < 0)
            return -1;
    }
    if (!n->first_child)
        return buf_append(out, "/>", 2);
    if (buf_append(out, ">", 1) < 0)
        return -1;
    for (const xml_node *c = n->first_child; c; c = c->next) {
        if (xml_serialize(c, out, ns) < 0)
            return -1;
    }
    if (buf_append(out, "</", 2) < 0 || buf_puts(out, n->name) < 0 || buf_append(out, ">", 1) < 0)
        return -1;
    return 0;
}

char *xml_to_string(const xml_node *n, const char *parent_ns)
{
    buf b = BUF_INIT;
    char *s = xml_serialize(n, &b, parent_ns) == 0 ? buf_strdup(&b) : NULL;
    buf_free(&b);
    return s;
}
