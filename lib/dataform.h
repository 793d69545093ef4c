/* dataform: XEP-0004 data forms, built, parsed and checked in one place.
 *
 * Building appends to an element tree (xml.h): dataform_new starts an
 * <x xmlns='jabber:x:data'/>, dataform_add_field and friends fill it, one
 * call per field, from literal arguments or from a dataform_spec row. The
 * same rows describe what a submission may hold: dataform_check holds a
 * parsed submission against them (required fields, one value for single
 * types, booleans, JIDs, options, lengths), so a form is written once and
 * both sides of it agree.
 *
 * Parsing turns a submitted <x/> into a read-only dataform, refusing what
 * a hostile peer could make costly before anything reads it: more fields
 * or values than the limits allow, one value longer than the limit, a var
 * given twice. Everything it refuses comes back as a dataform_error: the
 * stanza error condition to answer with, the field at fault and a short
 * reason, never a log line.
 *
 * Field order on the wire follows XEP-0004's schema: a field's attributes
 * are var, type, label; its children <required/>, then <value/>s, then
 * <option/>s.
 *
 * Ownership: builders append to the tree they are given (the parent owns
 * what they add) and copy every string; they return the new node, or NULL
 * (-1) on OOM, and accept a NULL parent (returning NULL), so a chain of
 * calls needs one check at the end. dataform_new with a NULL parent returns
 * a tree the caller owns. A parsed dataform borrows the <x/> it was parsed
 * from (its strings point into it): free the dataform (dataform_free)
 * before the tree, and do not change the tree in between. Specs are
 * borrowed and usually static. */
#ifndef STOA_DATAFORM_H
#define STOA_DATAFORM_H

#include <stdbool.h>
#include <stddef.h>

#include "stanza.h"
#include "xml.h"

/* The form's type attribute (XEP-0004 3.1). */
typedef enum {
    DATAFORM_FORM,   /* asks for data */
    DATAFORM_SUBMIT, /* the data asked for */
    DATAFORM_CANCEL, /* the asker gave up */
    DATAFORM_RESULT, /* data returned (a report, a search) */
} dataform_type;

/* A field's type (XEP-0004 3.3). DATAFORM_UNTYPED writes no type
 * attribute: XEP-0004 reads that as text-single, and a submission usually
 * leaves the type out. */
typedef enum {
    DATAFORM_UNTYPED = 0,
    DATAFORM_BOOLEAN,
    DATAFORM_FIXED,
    DATAFORM_HIDDEN,
    DATAFORM_JID_MULTI,
    DATAFORM_JID_SINGLE,
    DATAFORM_LIST_MULTI,
    DATAFORM_LIST_SINGLE,
    DATAFORM_TEXT_MULTI,
    DATAFORM_TEXT_PRIVATE,
    DATAFORM_TEXT_SINGLE,
} dataform_ftype;

/* Field flags (dataform_add_field, dataform_spec.flags). */
enum {
    /* Written as <required/>; dataform_check refuses a submission that
     * leaves the field out or empty. */
    DATAFORM_REQUIRED = 1u << 0,
    /* With DATAFORM_REQUIRED: shown as required, to guide the person
     * filling it in, but a submission may leave it out (the handler gives
     * an absent value its own meaning, e.g. "no limit"). */
    DATAFORM_ABSENT_OK = 1u << 1,
    /* A list field that takes values outside its options (XEP-0122's
     * <open/>; not written on the wire). */
    DATAFORM_OPEN = 1u << 2,
};

/* One option of a list field. */
typedef struct dataform_option {
    const char *label; /* NULL: no label attribute */
    const char *value;
} dataform_option;

/* One field as a form shows it and a submission may fill it. */
typedef struct dataform_spec {
    const char *var;
    dataform_ftype type;
    const char *label;              /* NULL: none */
    unsigned flags;                 /* DATAFORM_REQUIRED, ... */
    const char *value;              /* default value shown, NULL: none */
    const dataform_option *options; /* list types: ends with a row whose value is NULL;
                                       NULL: the caller adds options and dataform_check
                                       does not hold values to them */
    size_t max_len;                 /* longest value accepted, bytes; 0: the parse limit */
} dataform_spec;

/* Bounds on a submission (dataform_parse). Zero members take the default. */
typedef struct dataform_limits {
    size_t fields;    /* fields in the form (DATAFORM_FIELDS_MAX) */
    size_t values;    /* values in one field (DATAFORM_VALUES_MAX) */
    size_t value_len; /* bytes of one value (DATAFORM_VALUE_LEN_MAX) */
    /* A var given twice: the first field counts and the others are
     * skipped, instead of refusing the form. For the forms rooms have
     * always taken that way (clients send FORM_TYPE twice). */
    bool first_wins;
} dataform_limits;

#define DATAFORM_FIELDS_MAX 64
#define DATAFORM_VALUES_MAX 256
#define DATAFORM_VALUE_LEN_MAX 8192

/* Why a form was refused. cond is the stanza error to answer with: bad-request
 * (not a form, wrong shape, not a boolean, not an option, a missing required
 * field), jid-malformed, not-acceptable (a value too long), policy-violation
 * (too many fields or values), internal-server-error (OOM). var is the field
 * at fault or NULL; it points into the form or the spec. why is static. */
typedef struct dataform_error {
    stanza_error cond;
    const char *var;
    const char *why;
} dataform_error;

/* "field jid is required" (or why alone when var is NULL), truncated to
 * len bytes; for the error stanza's text. */
void dataform_error_text(const dataform_error *e, char *out, size_t len);

/* Names as on the wire ("submit", "list-single"); "" for DATAFORM_UNTYPED. */
const char *dataform_type_name(dataform_type t);
const char *dataform_ftype_name(dataform_ftype t);
/* Parses a type attribute; -1 when it names no type. */
int dataform_ftype_parse(const char *s, dataform_ftype *out);

/* ---- building ---- */

/* Appends <x xmlns='jabber:x:data' type=…> with an optional <title/> and
 * <instructions/> to parent (NULL parent: a new tree the caller owns).
 * Returns the x, or NULL on OOM. */
xml_node *dataform_new(xml_node *parent, dataform_type type, const char *title,
                       const char *instructions);
/* Appends a field: var (NULL: none, for fixed fields), type (UNTYPED: no
 * attribute), label (NULL: none), <required/> when flags hold
 * DATAFORM_REQUIRED, and one <value/> when value is not NULL. Returns the
 * field, or NULL on OOM. */
xml_node *dataform_add_field(xml_node *x, const char *var, dataform_ftype type, const char *label,
                             const char *value, unsigned flags);
/* Appends one more <value/> to a field (the lines of text-multi, the JIDs of
 * jid-multi); NULL writes an empty <value/>. 0, or -1 on OOM or a NULL
 * field. */
int dataform_add_value(xml_node *field, const char *value);
/* Appends <option label=…><value>…</value></option>. 0 or -1. */
int dataform_add_option(xml_node *field, const char *label, const char *value);
/* Appends the field a spec describes, with its default value and options. */
xml_node *dataform_add_spec(xml_node *x, const dataform_spec *spec);
/* The hidden FORM_TYPE field (XEP-0068) that names the form's namespace. */
xml_node *dataform_add_form_type(xml_node *x, const char *form_type);
/* Appends <reported/> with one <field var type label/> per column (results
 * with several items). Returns it, or NULL. */
xml_node *dataform_add_reported(xml_node *x, const dataform_spec *cols, size_t n);
/* Appends one <item/> of a result: a field with one value per column.
 * Returns it, or NULL. */
xml_node *dataform_add_item(xml_node *x, const char *const *vars, const char *const *values,
                            size_t n);

/* ---- reading ---- */

typedef struct dataform dataform;

/* The <x xmlns='jabber:x:data'/> child of parent, or NULL. */
const xml_node *dataform_find(const xml_node *parent);
/* Parses x (which must be <x xmlns='jabber:x:data'>) within lim (NULL: the
 * defaults). Fields without a var (fixed text) are skipped. Returns the form,
 * or NULL with *err filled. */
dataform *dataform_parse(const xml_node *x, const dataform_limits *lim, dataform_error *err);
void dataform_free(dataform *f);

dataform_type dataform_kind(const dataform *f);
/* The FORM_TYPE field's value, or NULL when the form has none. */
const char *dataform_form_type(const dataform *f);
/* Number of fields (with a var), and the var of the i-th, in document order. */
size_t dataform_count(const dataform *f);
const char *dataform_var_at(const dataform *f, size_t i);
bool dataform_has(const dataform *f, const char *var);
/* The first value of var: "" for a field without a value, NULL when the
 * form has no such field. */
const char *dataform_get(const dataform *f, const char *var);
/* All values of var; *n is 0 when absent. The array lives with f. */
const char *const *dataform_values(const dataform *f, const char *var, size_t *n);
/* The values of var joined by "\n": the text of a text-multi field, whose
 * lines arrive one per <value/>. "" without values, NULL when absent. */
const char *dataform_text(const dataform *f, const char *var);
/* A boolean field ("1"/"true", "0"/"false"): 0 with *out set; 0 with *out
 * untouched when absent or empty; -1 when it is not a boolean. */
int dataform_bool(const dataform *f, const char *var, bool *out);
/* The same reading of one value: 0 with *out set, or -1. */
int dataform_bool_value(const char *v, bool *out);

/* Holds f against the spec rows: each field the specs name has at most one
 * value unless its type is multi, a boolean value parses, a JID value is a
 * valid JID, a list value is one of the spec's options (unless
 * DATAFORM_OPEN or the spec lists none), no value is longer than max_len,
 * and a DATAFORM_REQUIRED field (without DATAFORM_ABSENT_OK) has a non-empty
 * value. Fields the specs do not name are left alone. The type checked is
 * the spec's, whatever the submission says. 0, or -1 with *err filled. */
int dataform_check(const dataform *f, const dataform_spec *specs, size_t n, dataform_error *err);

#endif
