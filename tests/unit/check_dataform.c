/* dataform: XEP-0004 forms built to literal XML, literal submissions parsed
 * and checked, and the hostile ones refused before anything reads them. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dataform.h"
#include "testutil.h"

#define X "<x xmlns='jabber:x:data' type='submit'>"

static xml_node *tree;
static dataform *form;
static dataform_error err;

static void teardown(void)
{
    dataform_free(form);
    form = NULL;
    xml_free(tree);
    tree = NULL;
}

/* Parses a literal <x/> (freed at teardown); the form or NULL. */
static dataform *parse_lim(const char *xml, const dataform_limits *lim)
{
    teardown();
    tree = tu_stanza(xml);
    ck_assert_msg(tree != NULL, "test input does not parse: %s", xml);
    memset(&err, 0, sizeof err);
    form = dataform_parse(tree, lim, &err);
    return form;
}

static dataform *parse(const char *xml)
{
    return parse_lim(xml, NULL);
}

static void expect_refused(stanza_error cond, const char *var, const char *why)
{
    ck_assert_ptr_null(form);
    ck_assert_int_eq(err.cond, cond);
    if (var)
        ck_assert_str_eq(err.var, var);
    else
        ck_assert_ptr_null(err.var);
    ck_assert_str_eq(err.why, why);
}

/* ---- building ---- */

START_TEST(build_fields_in_schema_order)
{
    xml_node *iq = xml_new("iq", NULL);
    xml_node *x = dataform_new(iq, DATAFORM_FORM, "Ban a user", "Pick carefully");
    dataform_add_form_type(x, "urn:example:ban");
    dataform_add_field(x, "jid", DATAFORM_JID_SINGLE, "User", NULL, DATAFORM_REQUIRED);
    xml_node *f = dataform_add_field(x, "for", DATAFORM_LIST_SINGLE, "For", "3600", 0);
    dataform_add_option(f, "one hour", "3600");
    dataform_add_option(f, NULL, "0");
    xml_node *lines = dataform_add_field(x, "why", DATAFORM_TEXT_MULTI, NULL, "one", 0);
    dataform_add_value(lines, "two");
    dataform_add_value(lines, NULL);
    dataform_add_field(x, NULL, DATAFORM_FIXED, NULL, "Read this.", 0);
    ck_assert_ptr_nonnull(dataform_add_field(x, "plain", DATAFORM_UNTYPED, "Plain", "", 0));
    tu_expect(iq, "<iq><x xmlns=\"jabber:x:data\" type=\"form\"><title>Ban a user</title>"
                  "<instructions>Pick carefully</instructions>"
                  "<field var=\"FORM_TYPE\" type=\"hidden\"><value>urn:example:ban</value></field>"
                  "<field var=\"jid\" type=\"jid-single\" label=\"User\"><required/></field>"
                  "<field var=\"for\" type=\"list-single\" label=\"For\"><value>3600</value>"
                  "<option label=\"one hour\"><value>3600</value></option>"
                  "<option><value>0</value></option></field>"
                  "<field var=\"why\" type=\"text-multi\"><value>one</value><value>two</value>"
                  "<value/></field>"
                  "<field type=\"fixed\"><value>Read this.</value></field>"
                  "<field var=\"plain\" label=\"Plain\"><value></value></field></x></iq>");
}
END_TEST

static const dataform_option durations[] = {{"one hour", "3600"}, {"until lifted", "0"}, {0}};

START_TEST(build_from_specs_and_results)
{
    static const dataform_spec spec = {
        "duration", DATAFORM_LIST_SINGLE, "For", DATAFORM_REQUIRED, "3600", durations, 0};
    xml_node *x = dataform_new(NULL, DATAFORM_FORM, NULL, NULL);
    ck_assert_ptr_nonnull(dataform_add_spec(x, &spec));
    tu_expect(x, "<x xmlns=\"jabber:x:data\" type=\"form\"><field var=\"duration\" "
                 "type=\"list-single\" label=\"For\"><required/><value>3600</value>"
                 "<option label=\"one hour\"><value>3600</value></option>"
                 "<option label=\"until lifted\"><value>0</value></option></field></x>");

    static const dataform_spec cols[] = {{"id", DATAFORM_TEXT_SINGLE, "Report", 0, 0, 0, 0},
                                         {"who", DATAFORM_TEXT_SINGLE, "Reported", 0, 0, 0, 0}};
    static const char *const vars[] = {"id", "who"};
    const char *vals[] = {"ab12", "eve@example.org"};
    x = dataform_new(NULL, DATAFORM_RESULT, "Open reports", NULL);
    ck_assert_ptr_nonnull(dataform_add_reported(x, cols, 2));
    ck_assert_ptr_nonnull(dataform_add_item(x, vars, vals, 2));
    tu_expect(x, "<x xmlns=\"jabber:x:data\" type=\"result\"><title>Open reports</title><reported>"
                 "<field var=\"id\" type=\"text-single\" label=\"Report\"/>"
                 "<field var=\"who\" type=\"text-single\" label=\"Reported\"/></reported>"
                 "<item><field var=\"id\"><value>ab12</value></field>"
                 "<field var=\"who\"><value>eve@example.org</value></field></item></x>");
}
END_TEST

START_TEST(null_parents_pass_through)
{
    ck_assert_ptr_null(dataform_add_field(NULL, "a", DATAFORM_BOOLEAN, NULL, "1", 0));
    ck_assert_int_eq(dataform_add_value(NULL, "x"), -1);
    ck_assert_int_eq(dataform_add_option(NULL, "l", "v"), -1);
    ck_assert_ptr_null(dataform_add_item(NULL, NULL, NULL, 0));
    ck_assert_ptr_null(dataform_add_form_type(NULL, "urn:x"));
}
END_TEST

START_TEST(type_names)
{
    dataform_ftype t;
    ck_assert_str_eq(dataform_type_name(DATAFORM_SUBMIT), "submit");
    ck_assert_str_eq(dataform_ftype_name(DATAFORM_TEXT_PRIVATE), "text-private");
    ck_assert_str_eq(dataform_ftype_name(DATAFORM_UNTYPED), "");
    ck_assert_int_eq(dataform_ftype_parse("jid-multi", &t), 0);
    ck_assert_int_eq(t, DATAFORM_JID_MULTI);
    ck_assert_int_eq(dataform_ftype_parse("", &t), -1);
    ck_assert_int_eq(dataform_ftype_parse("text-singles", &t), -1);
    bool b = false;
    ck_assert_int_eq(dataform_bool_value("true", &b), 0);
    ck_assert(b);
    ck_assert_int_eq(dataform_bool_value("0", &b), 0);
    ck_assert(!b);
    ck_assert_int_eq(dataform_bool_value("yes", &b), -1);
}
END_TEST

/* ---- parsing ---- */

START_TEST(parse_a_submission)
{
    ck_assert_ptr_nonnull(parse(X
                                "<field var='FORM_TYPE' type='hidden'><value>urn:x</value></field>"
                                "<field type='fixed'><value>ignored</value></field>"
                                "<field var='jid'><value>eve@example.org</value></field>"
                                "<field var='empty'/>"
                                "<field var='on' type='boolean'><value>true</value></field>"
                                "<field var='text' type='text-multi'><value>line one</value>"
                                "<value/><value>line &amp; three</value></field></x>"));
    ck_assert_int_eq(dataform_kind(form), DATAFORM_SUBMIT);
    ck_assert_str_eq(dataform_form_type(form), "urn:x");
    ck_assert_uint_eq(dataform_count(form), 5);
    ck_assert_str_eq(dataform_var_at(form, 1), "jid");
    ck_assert_ptr_null(dataform_var_at(form, 5));
    ck_assert_str_eq(dataform_get(form, "jid"), "eve@example.org");
    ck_assert_str_eq(dataform_get(form, "empty"), "");
    ck_assert_ptr_null(dataform_get(form, "absent"));
    ck_assert(dataform_has(form, "empty") && !dataform_has(form, "absent"));
    ck_assert_str_eq(dataform_get(form, "text"), "line one");
    ck_assert_str_eq(dataform_text(form, "text"), "line one\n\nline & three");
    ck_assert_str_eq(dataform_text(form, "jid"), "eve@example.org");
    ck_assert_str_eq(dataform_text(form, "empty"), "");
    ck_assert_ptr_null(dataform_text(form, "absent"));
    size_t n;
    const char *const *v = dataform_values(form, "text", &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(v[2], "line & three");
    ck_assert_ptr_null(dataform_values(form, "absent", &n));
    ck_assert_uint_eq(n, 0);
    bool b = false;
    ck_assert_int_eq(dataform_bool(form, "on", &b), 0);
    ck_assert(b);
    b = true;
    ck_assert_int_eq(dataform_bool(form, "absent", &b), 0);
    ck_assert(b);
    ck_assert_int_eq(dataform_bool(form, "jid", &b), -1);
    ck_assert_ptr_null(dataform_find(tree)); /* tree is the form itself */
}
END_TEST

START_TEST(find_the_form_in_a_payload)
{
    xml_node *cmd = tu_stanza("<command xmlns='http://jabber.org/protocol/commands'>"
                              "<note/><x xmlns='jabber:x:data' type='cancel'/></command>");
    const xml_node *x = dataform_find(cmd);
    ck_assert_ptr_nonnull(x);
    dataform *f = dataform_parse(x, NULL, &err);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(dataform_kind(f), DATAFORM_CANCEL);
    ck_assert_ptr_null(dataform_form_type(f));
    ck_assert_uint_eq(dataform_count(f), 0);
    dataform_free(f);
    ck_assert_ptr_null(dataform_find(NULL));
    xml_free(cmd);
}
END_TEST

START_TEST(refuse_what_is_not_a_form)
{
    parse("<x xmlns='urn:other' type='submit'/>");
    expect_refused(STANZA_ERR_BAD_REQUEST, NULL, "not a data form");
    parse("<x xmlns='jabber:x:data'/>");
    expect_refused(STANZA_ERR_BAD_REQUEST, NULL, "a data form needs a known type");
    parse("<x xmlns='jabber:x:data' type='SUBMIT'/>");
    expect_refused(STANZA_ERR_BAD_REQUEST, NULL, "a data form needs a known type");
    parse(X "<field var='a' type='text-everything'><value>x</value></field></x>");
    expect_refused(STANZA_ERR_BAD_REQUEST, "a", "has an unknown type");
    /* XEP-0004 3.2: one field per var; which of two would a handler read? */
    parse(X "<field var='jid'><value>a@b</value></field>"
            "<field var='jid'><value>c@d</value></field></x>");
    expect_refused(STANZA_ERR_BAD_REQUEST, "jid", "appears twice");
    char text[100];
    dataform_error_text(&err, text, sizeof text);
    ck_assert_str_eq(text, "field jid appears twice");
}
END_TEST

/* The rooms' forms take a var given twice as its first field. */
START_TEST(first_wins)
{
    static const dataform_limits lim = {.first_wins = true};
    dataform *f = parse_lim(X "<field var='FORM_TYPE'><value>urn:a</value></field>"
                              "<field var='FORM_TYPE'><value>urn:b</value></field>"
                              "<field var='x'><value>1</value></field></x>",
                            &lim);
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(dataform_count(f), 2);
    ck_assert_str_eq(dataform_form_type(f), "urn:a");
    ck_assert_str_eq(dataform_get(f, "x"), "1");
}
END_TEST

/* n fields, each with `values` values of `len` bytes. */
static char *big_form(int n, int values, int len)
{
    buf b = BUF_INIT;
    buf_puts(&b, X);
    for (int i = 0; i < n; i++) {
        buf_printf(&b, "<field var='f%d'>", i);
        for (int k = 0; k < values; k++) {
            buf_puts(&b, "<value>");
            for (int c = 0; c < len; c++)
                buf_puts(&b, "v");
            buf_puts(&b, "</value>");
        }
        buf_puts(&b, "</field>");
    }
    buf_puts(&b, "</x>");
    char *s = buf_strdup(&b);
    buf_free(&b);
    return s;
}

START_TEST(hostile_sizes)
{
    char *s = big_form(DATAFORM_FIELDS_MAX, 1, 1);
    ck_assert_ptr_nonnull(parse(s));
    free(s);
    s = big_form(DATAFORM_FIELDS_MAX + 1, 1, 1);
    parse(s);
    free(s);
    expect_refused(STANZA_ERR_POLICY_VIOLATION, NULL, "the form has too many fields");

    s = big_form(1, DATAFORM_VALUES_MAX + 1, 0);
    parse(s);
    free(s);
    expect_refused(STANZA_ERR_POLICY_VIOLATION, "f0", "has too many values");

    s = big_form(2, 1, DATAFORM_VALUE_LEN_MAX + 1);
    parse(s);
    free(s);
    expect_refused(STANZA_ERR_NOT_ACCEPTABLE, "f0", "has a value too long");

    /* A caller's own, tighter limits. */
    dataform_limits lim = {.fields = 3, .values = 2, .value_len = 10};
    s = big_form(3, 2, 10);
    ck_assert_ptr_nonnull(parse_lim(s, &lim));
    free(s);
    s = big_form(4, 1, 1);
    parse_lim(s, &lim);
    free(s);
    expect_refused(STANZA_ERR_POLICY_VIOLATION, NULL, "the form has too many fields");
    s = big_form(1, 3, 1);
    parse_lim(s, &lim);
    free(s);
    expect_refused(STANZA_ERR_POLICY_VIOLATION, "f0", "has too many values");
    s = big_form(1, 1, 11);
    parse_lim(s, &lim);
    free(s);
    expect_refused(STANZA_ERR_NOT_ACCEPTABLE, "f0", "has a value too long");
}
END_TEST

/* ---- checking ---- */

static const dataform_option reasons[] = {{"Abuse", "abuse"}, {"Spam", "spam"}, {0}};

static const dataform_spec specs[] = {
    {"jid", DATAFORM_JID_SINGLE, "User", DATAFORM_REQUIRED, NULL, NULL, 0},
    {"reason", DATAFORM_LIST_SINGLE, "Why", DATAFORM_REQUIRED, "abuse", reasons, 0},
    {"duration", DATAFORM_LIST_SINGLE, "For", DATAFORM_REQUIRED | DATAFORM_ABSENT_OK, "3600",
     durations, 0},
    {"confirm", DATAFORM_BOOLEAN, "Sure", 0, "0", NULL, 0},
    {"room", DATAFORM_LIST_SINGLE, "Room", 0, NULL, NULL, 0},
    {"tags", DATAFORM_LIST_MULTI, "Tags", DATAFORM_OPEN, NULL, reasons, 0},
    {"note", DATAFORM_TEXT_MULTI, "Note", 0, NULL, NULL, 12},
    {"also", DATAFORM_JID_MULTI, "Also", 0, NULL, NULL, 0},
};
#define NSPECS (sizeof specs / sizeof specs[0])

static int check(const char *fields)
{
    char in[2048];
    snprintf(in, sizeof in, X "%s</x>", fields);
    ck_assert_msg(parse(in) != NULL, "refused at parse: %s", err.why);
    memset(&err, 0, sizeof err);
    return dataform_check(form, specs, NSPECS, &err);
}

static void check_refused(const char *fields, stanza_error cond, const char *var, const char *why)
{
    ck_assert_int_eq(check(fields), -1);
    ck_assert_int_eq(err.cond, cond);
    ck_assert_str_eq(err.var, var);
    ck_assert_str_eq(err.why, why);
}

#define F(var, vals) "<field var='" var "'>" vals "</field>"
#define V(v) "<value>" v "</value>"

START_TEST(check_accepts_a_good_submission)
{
    ck_assert_int_eq(check(F("jid", V("Eve@Example.org")) F("reason", V("spam"))
                               F("confirm", V("true")) F("room", V("anything")) F(
                                   "tags", V("spam") V("other")) F("note", V("short") V("lines"))
                                   F("also", V("a@b") V("c.example")) F("unknown", V("x") V("y"))),
                     0);
    /* ABSENT_OK: shown as required, but the handler reads an absence. */
    ck_assert_int_eq(check(F("jid", V("eve@example.org")) F("reason", V("abuse"))), 0);
    ck_assert_int_eq(
        check(F("jid", V("eve@example.org")) F("reason", V("abuse")) F("duration", "")), 0);
    /* An empty optional value is no value: nothing to hold to the options. */
    ck_assert_int_eq(check(F("jid", V("e@x")) F("reason", V("spam")) F("confirm", V(""))), 0);
}
END_TEST

START_TEST(check_refuses_each_fault)
{
    check_refused(F("reason", V("spam")), STANZA_ERR_BAD_REQUEST, "jid", "is required");
    check_refused(F("jid", "") F("reason", V("spam")), STANZA_ERR_BAD_REQUEST, "jid",
                  "is required");
    check_refused(F("jid", V("")) F("reason", V("spam")), STANZA_ERR_BAD_REQUEST, "jid",
                  "is required");
    check_refused(F("jid", V("not a jid@@")) F("reason", V("spam")), STANZA_ERR_JID_MALFORMED,
                  "jid", "is not a valid JID");
    check_refused(F("jid", V("a@b") V("c@d")) F("reason", V("spam")), STANZA_ERR_BAD_REQUEST, "jid",
                  "takes one value");
    check_refused(F("jid", V("a@b")) F("reason", V("lies")), STANZA_ERR_BAD_REQUEST, "reason",
                  "is not one of the options");
    check_refused(F("jid", V("a@b")) F("reason", V("spam")) F("duration", V("7200")),
                  STANZA_ERR_BAD_REQUEST, "duration", "is not one of the options");
    check_refused(F("jid", V("a@b")) F("reason", V("spam")) F("confirm", V("yes")),
                  STANZA_ERR_BAD_REQUEST, "confirm", "is not a boolean");
    check_refused(F("jid", V("a@b")) F("reason", V("spam")) F("note", V("thirteen bytes")),
                  STANZA_ERR_NOT_ACCEPTABLE, "note", "is too long");
    check_refused(F("jid", V("a@b")) F("reason", V("spam")) F("also", V("a@b") V("@")),
                  STANZA_ERR_JID_MALFORMED, "also", "is not a valid JID");
    char text[100];
    dataform_error_text(&err, text, 11);
    ck_assert_str_eq(text, "field also");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dataform");
    TCase *b = tcase_create("build");
    tcase_add_test(b, build_fields_in_schema_order);
    tcase_add_test(b, build_from_specs_and_results);
    tcase_add_test(b, null_parents_pass_through);
    tcase_add_test(b, type_names);
    suite_add_tcase(s, b);
    TCase *p = tcase_create("parse");
    tcase_add_checked_fixture(p, NULL, teardown);
    tcase_add_test(p, parse_a_submission);
    tcase_add_test(p, find_the_form_in_a_payload);
    tcase_add_test(p, refuse_what_is_not_a_form);
    tcase_add_test(p, first_wins);
    tcase_add_test(p, hostile_sizes);
    tcase_add_test(p, check_accepts_a_good_submission);
    tcase_add_test(p, check_refuses_each_fault);
    suite_add_tcase(s, p);
    return tu_run(s);
}
