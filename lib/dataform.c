#include "dataform.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jid.h"
#include "ns.h"

static const char *const form_types[] = {"form", "submit", "cancel", "result"};

static const char *const field_types[] = {
    [DATAFORM_UNTYPED] = "",
    [DATAFORM_BOOLEAN] = "boolean",
    [DATAFORM_FIXED] = "fixed",
    [DATAFORM_HIDDEN] = "hidden",
    [DATAFORM_JID_MULTI] = "jid-multi",
    [DATAFORM_JID_SINGLE] = "jid-single",
    [DATAFORM_LIST_MULTI] = "list-multi",
    [DATAFORM_LIST_SINGLE] = "list-single",
    [DATAFORM_TEXT_MULTI] = "text-multi",
    [DATAFORM_TEXT_PRIVATE] = "text-private",
    [DATAFORM_TEXT_SINGLE] = "text-single",
};
#define NFIELD_TYPES (sizeof field_types / sizeof field_types[0])

const char *dataform_type_name(dataform_type t)
{
    return (unsigned)t < 4 ? form_types[t] : "";
}

const char *dataform_ftype_name(dataform_ftype t)
{
    return (unsigned)t < NFIELD_TYPES ? field_types[t] : "";
}

int dataform_ftype_parse(const char *s, dataform_ftype *out)
{
    for (size_t i = 1; s && i < NFIELD_TYPES; i++) {
        if (strcmp(field_types[i], s) == 0) {
            *out = (dataform_ftype)i;
            return 0;
        }
    }
    return -1;
}

void dataform_error_text(const dataform_error *e, char *out, size_t len)
{
    if (e->var)
        snprintf(out, len, "field %s %s", e->var, e->why);
    else
        snprintf(out, len, "%s", e->why);
}

static bool is_multi(dataform_ftype t)
{
    return t == DATAFORM_JID_MULTI || t == DATAFORM_LIST_MULTI || t == DATAFORM_TEXT_MULTI;
}

static bool is_jid(dataform_ftype t)
{
    return t == DATAFORM_JID_SINGLE || t == DATAFORM_JID_MULTI;
}

static bool is_list(dataform_ftype t)
{
    return t == DATAFORM_LIST_SINGLE || t == DATAFORM_LIST_MULTI;
}

/* ---- building ---- */

xml_node *dataform_new(xml_node *parent, dataform_type type, const char *title,
                       const char *instructions)
{
    xml_node *x = xml_new("x", NS_DATA);
    if (!x)
        return NULL;
    if (xml_set_attr(x, "type", dataform_type_name(type)) < 0 ||
        (title && xml_append_text(xml_append_new(x, "title", NULL), title) < 0) ||
        (instructions &&
         xml_append_text(xml_append_new(x, "instructions", NULL), instructions) < 0)) {
        xml_free(x);
        return NULL;
    }
    if (!parent)
        return x;
    return xml_append(parent, x);
}

int dataform_add_value(xml_node *field, const char *value)
{
    xml_node *v = field ? xml_append_new(field, "value", NULL) : NULL;
    return v && value ? xml_append_text(v, value) : v ? 0 : -1;
}

xml_node *dataform_add_field(xml_node *x, const char *var, dataform_ftype type, const char *label,
                             const char *value, unsigned flags)
{
    xml_node *f = x ? xml_append_new(x, "field", NULL) : NULL;
    if (!f)
        return NULL;
    if ((var && xml_set_attr(f, "var", var) < 0) ||
        (type != DATAFORM_UNTYPED && xml_set_attr(f, "type", dataform_ftype_name(type)) < 0) ||
        (label && xml_set_attr(f, "label", label) < 0) ||
        ((flags & DATAFORM_REQUIRED) && !xml_append_new(f, "required", NULL)) ||
        (value && dataform_add_value(f, value) < 0))
        return NULL;
    return f;
}

int dataform_add_option(xml_node *field, const char *label, const char *value)
{
    xml_node *o = field ? xml_append_new(field, "option", NULL) : NULL;
    if (!o || (label && xml_set_attr(o, "label", label) < 0))
        return -1;
    return dataform_add_value(o, value);
}

xml_node *dataform_add_spec(xml_node *x, const dataform_spec *s)
{
    xml_node *f = dataform_add_field(x, s->var, s->type, s->label, s->value, s->flags);
    for (const dataform_option *o = s->options; f && o && o->value; o++)
        if (dataform_add_option(f, o->label, o->value) < 0)
            return NULL;
    return f;
}

xml_node *dataform_add_form_type(xml_node *x, const char *form_type)
{
    return dataform_add_field(x, "FORM_TYPE", DATAFORM_HIDDEN, NULL, form_type, 0);
}

xml_node *dataform_add_reported(xml_node *x, const dataform_spec *cols, size_t n)
{
    xml_node *r = x ? xml_append_new(x, "reported", NULL) : NULL;
    for (size_t i = 0; r && i < n; i++)
        if (!dataform_add_field(r, cols[i].var, cols[i].type, cols[i].label, NULL, 0))
            return NULL;
    return r;
}

xml_node *dataform_add_item(xml_node *x, const char *const *vars, const char *const *values,
                            size_t n)
{
    xml_node *item = x ? xml_append_new(x, "item", NULL) : NULL;
    for (size_t i = 0; item && i < n; i++)
        if (!dataform_add_field(item, vars[i], DATAFORM_UNTYPED, NULL, values[i], 0))
            return NULL;
    return item;
}

/* ---- reading ---- */

typedef struct field {
    const char *var;
    dataform_ftype type; /* as submitted; UNTYPED when left out */
    const char **values;
    size_t n;
    char *joined; /* the values joined by newlines, when there are several */
} field;

struct dataform {
    dataform_type type;
    field *fields;
    size_t n;
};

static int fail(dataform_error *err, stanza_error cond, const char *var, const char *why)
{
    err->cond = cond;
    err->var = var;
    err->why = why;
    return -1;
}

const xml_node *dataform_find(const xml_node *parent)
{
    return parent ? xml_child(parent, "x", NS_DATA) : NULL;
}

void dataform_free(dataform *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++) {
        free(f->fields[i].values);
        free(f->fields[i].joined);
    }
    free(f->fields);
    free(f);
}

/* Counts a field's values before storing any, so a hostile field costs
 * one walk and no allocation. */
static int count_values(xml_node *fe, const char *var, const dataform_limits *lim, size_t *n,
                        dataform_error *err)
{
    *n = 0;
    for (xml_node *v = xml_first_child(fe); v; v = xml_next(v)) {
        if (xml_is_text(v) || strcmp(xml_name(v), "value") != 0)
            continue;
        if (++*n > lim->values)
            return fail(err, STANZA_ERR_POLICY_VIOLATION, var, "has too many values");
        const char *t = xml_text(v);
        if (!t)
            return fail(err, STANZA_ERR_INTERNAL_SERVER_ERROR, var, "out of memory");
        if (strlen(t) > lim->value_len)
            return fail(err, STANZA_ERR_NOT_ACCEPTABLE, var, "has a value too long");
    }
    return 0;
}

static int fill_field(field *fl, xml_node *fe, const char *var, const dataform_limits *lim,
                      dataform_error *err)
{
    fl->var = var;
    const char *type = xml_attr(fe, "type");
    if (type && dataform_ftype_parse(type, &fl->type) < 0)
        return fail(err, STANZA_ERR_BAD_REQUEST, var, "has an unknown type");
    if (count_values(fe, var, lim, &fl->n, err) < 0)
        return -1;
    fl->values = calloc(fl->n + 1, sizeof *fl->values);
    if (!fl->values)
        return fail(err, STANZA_ERR_INTERNAL_SERVER_ERROR, var, "out of memory");
    size_t k = 0;
    buf joined = BUF_INIT;
    for (xml_node *v = xml_first_child(fe); v; v = xml_next(v)) {
        if (xml_is_text(v) || strcmp(xml_name(v), "value") != 0)
            continue;
        fl->values[k] = xml_text(v); /* cached by the count above */
        if (fl->n > 1 &&
            ((k && buf_puts(&joined, "\n") < 0) || buf_puts(&joined, fl->values[k]) < 0))
            break;
        k++;
    }
    if (fl->n > 1 && (k < fl->n || !(fl->joined = buf_strdup(&joined)))) {
        buf_free(&joined);
        return fail(err, STANZA_ERR_INTERNAL_SERVER_ERROR, var, "out of memory");
    }
    buf_free(&joined);
    return 0;
}

static const field *find(const dataform *f, const char *var)
{
    for (size_t i = 0; f && i < f->n; i++)
        if (strcmp(f->fields[i].var, var) == 0)
            return &f->fields[i];
    return NULL;
}

static int parse_type(const xml_node *x, dataform_type *out, dataform_error *err)
{
    if (!x || xml_is_text(x) || strcmp(xml_name(x), "x") != 0 || !xml_ns(x) ||
        strcmp(xml_ns(x), NS_DATA) != 0)
        return fail(err, STANZA_ERR_BAD_REQUEST, NULL, "not a data form");
    const char *type = xml_attr(x, "type");
    for (int i = 0; type && i < 4; i++) {
        if (strcmp(type, form_types[i]) == 0) {
            *out = (dataform_type)i;
            return 0;
        }
    }
    return fail(err, STANZA_ERR_BAD_REQUEST, NULL, "a data form needs a known type");
}

dataform *dataform_parse(const xml_node *x, const dataform_limits *lim, dataform_error *err)
{
    dataform_limits l = {DATAFORM_FIELDS_MAX, DATAFORM_VALUES_MAX, DATAFORM_VALUE_LEN_MAX,
                         lim && lim->first_wins};
    if (lim && lim->fields)
        l.fields = lim->fields;
    if (lim && lim->values)
        l.values = lim->values;
    if (lim && lim->value_len)
        l.value_len = lim->value_len;
    dataform_type type;
    if (parse_type(x, &type, err) < 0)
        return NULL;
    size_t n = 0;
    for (xml_node *fe = xml_first_child(x); fe; fe = xml_next(fe))
        if (!xml_is_text(fe) && strcmp(xml_name(fe), "field") == 0 && xml_attr(fe, "var"))
            if (++n > l.fields) {
                fail(err, STANZA_ERR_POLICY_VIOLATION, NULL, "the form has too many fields");
                return NULL;
            }
    dataform *f = calloc(1, sizeof *f);
    if (f)
        f->fields = calloc(n ? n : 1, sizeof *f->fields);
    if (!f || !f->fields) {
        free(f);
        fail(err, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL, "out of memory");
        return NULL;
    }
    f->type = type;
    for (xml_node *fe = xml_first_child(x); fe; fe = xml_next(fe)) {
        const char *var =
            xml_is_text(fe) || strcmp(xml_name(fe), "field") != 0 ? NULL : xml_attr(fe, "var");
        if (!var)
            continue;
        /* XEP-0004 3.2: a var identifies one field in its form. */
        if (find(f, var) && l.first_wins)
            continue;
        if (find(f, var)) {
            fail(err, STANZA_ERR_BAD_REQUEST, var, "appears twice");
            dataform_free(f);
            return NULL;
        }
        if (fill_field(&f->fields[f->n++], fe, var, &l, err) < 0) {
            dataform_free(f);
            return NULL;
        }
    }
    return f;
}

dataform_type dataform_kind(const dataform *f)
{
    return f->type;
}

const char *dataform_form_type(const dataform *f)
{
    return dataform_get(f, "FORM_TYPE");
}

size_t dataform_count(const dataform *f)
{
    return f ? f->n : 0;
}

const char *dataform_var_at(const dataform *f, size_t i)
{
    return f && i < f->n ? f->fields[i].var : NULL;
}

bool dataform_has(const dataform *f, const char *var)
{
    return find(f, var) != NULL;
}

const char *dataform_get(const dataform *f, const char *var)
{
    const field *fl = find(f, var);
    return !fl ? NULL : fl->n ? fl->values[0] : "";
}

const char *const *dataform_values(const dataform *f, const char *var, size_t *n)
{
    const field *fl = find(f, var);
    *n = fl ? fl->n : 0;
    return fl ? fl->values : NULL;
}

const char *dataform_text(const dataform *f, const char *var)
{
    const field *fl = find(f, var);
    return !fl ? NULL : fl->joined ? fl->joined : fl->n ? fl->values[0] : "";
}

int dataform_bool_value(const char *v, bool *out)
{
    if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0)
        *out = true;
    else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
        *out = false;
    else
        return -1;
    return 0;
}

int dataform_bool(const dataform *f, const char *var, bool *out)
{
    const char *v = dataform_get(f, var);
    if (!v || !*v)
        return 0;
    return dataform_bool_value(v, out);
}

static bool is_option(const dataform_option *o, const char *v)
{
    for (; o->value; o++)
        if (strcmp(o->value, v) == 0)
            return true;
    return false;
}

/* One value held against its spec. */
static int check_value(const dataform_spec *s, const char *v, dataform_error *err)
{
    if (s->max_len && strlen(v) > s->max_len)
        return fail(err, STANZA_ERR_NOT_ACCEPTABLE, s->var, "is too long");
    if (!*v)
        return 0;
    bool b;
    if (s->type == DATAFORM_BOOLEAN && dataform_bool_value(v, &b) < 0)
        return fail(err, STANZA_ERR_BAD_REQUEST, s->var, "is not a boolean");
    if (is_jid(s->type)) {
        jid j;
        jid_err je = jid_parse(v, &j);
        if (je == JID_ERR_NOMEM)
            return fail(err, STANZA_ERR_INTERNAL_SERVER_ERROR, s->var, "out of memory");
        if (je != JID_OK)
            return fail(err, STANZA_ERR_JID_MALFORMED, s->var, "is not a valid JID");
        jid_free(&j);
    }
    if (is_list(s->type) && s->options && !(s->flags & DATAFORM_OPEN) && !is_option(s->options, v))
        return fail(err, STANZA_ERR_BAD_REQUEST, s->var, "is not one of the options");
    return 0;
}

int dataform_check(const dataform *f, const dataform_spec *specs, size_t n, dataform_error *err)
{
    for (size_t i = 0; i < n; i++) {
        const dataform_spec *s = &specs[i];
        const field *fl = find(f, s->var);
        bool empty = !fl || fl->n == 0 || (fl->n == 1 && !*fl->values[0]);
        if (empty && (s->flags & DATAFORM_REQUIRED) && !(s->flags & DATAFORM_ABSENT_OK))
            return fail(err, STANZA_ERR_BAD_REQUEST, s->var, "is required");
        if (!fl)
            continue;
        if (fl->n > 1 && !is_multi(s->type))
            return fail(err, STANZA_ERR_BAD_REQUEST, s->var, "takes one value");
        for (size_t k = 0; k < fl->n; k++)
            if (check_value(s, fl->values[k], err) < 0)
                return -1;
    }
    return 0;
}
