#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ns.h"
#include "testutil.h"
#include "xml.h"

#define ck_assert_xml(node, expected)                                                              \
    do {                                                                                           \
        char *s_ = tu_str(node);                                                                   \
        ck_assert_str_eq(s_, expected);                                                            \
        free(s_);                                                                                  \
    } while (0)

START_TEST(build_and_serialize)
{
    xml_node *m = xml_new("message", NS_COMPONENT);
    xml_set_attr(m, "to", "a@b");
    xml_set_attr(m, "type", "chat");
    xml_node *body = xml_append_new(m, "body", NULL);
    xml_append_text(body, "hi");
    ck_assert_xml(m, "<message to=\"a@b\" type=\"chat\"><body>hi</body></message>");
    xml_free(m);
}
END_TEST

START_TEST(escapes_text_and_attributes)
{
    xml_node *m = xml_new("message", NS_COMPONENT);
    xml_set_attr(m, "id", "a\"b'<&>");
    xml_node *body = xml_append_new(m, "body", NULL);
    xml_append_text(body, "1 < 2 && \"x\" > 'y' ]]>");
    ck_assert_xml(m, "<message id=\"a&quot;b&apos;&lt;&amp;&gt;\"><body>1 &lt; 2 &amp;&amp; "
                     "&quot;x&quot; &gt; &apos;y&apos; ]]&gt;</body></message>");
    xml_free(m);
}
END_TEST

START_TEST(xmlns_only_where_it_changes)
{
    xml_node *iq = xml_new("iq", NS_COMPONENT);
    xml_node *q = xml_append_new(iq, "query", NS_DISCO_INFO);
    xml_append_new(q, "feature", NS_DISCO_INFO);
    xml_append_new(q, "x", NS_DATA);
    ck_assert_xml(iq, "<iq><query xmlns=\"http://jabber.org/protocol/disco#info\"><feature/>"
                      "<x xmlns=\"jabber:x:data\"/></query></iq>");
    /* The same stanza on a stream of another namespace declares its own. */
    char *s = xml_to_string(iq, NS_CLIENT);
    ck_assert_str_eq(s, "<iq xmlns=\"jabber:component:accept\"><query "
                        "xmlns=\"http://jabber.org/protocol/disco#info\"><feature/>"
                        "<x xmlns=\"jabber:x:data\"/></query></iq>");
    free(s);
    xml_free(iq);
}
END_TEST

START_TEST(attribute_replace_and_remove)
{
    xml_node *n = xml_new("x", NULL);
    xml_set_attr(n, "a", "1");
    xml_set_attr(n, "b", "2");
    xml_set_attr(n, "a", "3");
    ck_assert_str_eq(xml_attr(n, "a"), "3");
    ck_assert_uint_eq(xml_attr_count(n), 2);
    xml_set_attr(n, "a", NULL);
    ck_assert_ptr_null(xml_attr(n, "a"));
    ck_assert_str_eq(xml_attr(n, "b"), "2");
    ck_assert_uint_eq(xml_attr_count(n), 1);
    xml_free(n);
}
END_TEST

START_TEST(text_concatenates_direct_children)
{
    xml_node *n = xml_new("body", NULL);
    xml_append_text(n, "ab");
    xml_append_new(n, "i", NULL);
    xml_append_text(n, "cd");
    ck_assert_str_eq(xml_text(n), "abcd");
    xml_append_text(n, "e");
    ck_assert_str_eq(xml_text(n), "abcde");
    xml_free(n);
}
END_TEST

START_TEST(child_lookup_by_name_and_ns)
{
    xml_node *m = tu_stanza("<message><body>x</body><x xmlns='jabber:x:data'/>"
                            "<body xmlns='other'>y</body></message>");
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(xml_ns(m), NS_COMPONENT);
    xml_node *b = xml_child(m, "body", NS_COMPONENT);
    ck_assert_str_eq(xml_text(b), "x");
    ck_assert_str_eq(xml_text(xml_child(m, "body", "other")), "y");
    ck_assert_ptr_nonnull(xml_child(m, NULL, NS_DATA));
    ck_assert_ptr_null(xml_child(m, "nothing", NULL));
    ck_assert_uint_eq(xml_element_count(m), 3);
    xml_free(m);
}
END_TEST

START_TEST(roundtrip_prefixes_become_namespaces)
{
    /* A peer may use prefixes; we compare and write namespaces only. */
    xml_node *m = tu_stanza("<message xmlns:p='urn:x' to='r@s' xml:lang='fr'>"
                            "<p:thing p:attr='1'>t</p:thing></message>");
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(xml_attr(m, "xml:lang"), "fr");
    ck_assert_xml(m,
                  "<message to=\"r@s\" xml:lang=\"fr\"><thing xmlns=\"urn:x\" xmlns:a0=\"urn:x\" "
                  "a0:attr=\"1\">t</thing></message>");
    xml_free(m);
}
END_TEST

START_TEST(copy_is_deep)
{
    xml_node *m = tu_stanza("<message id='1'><body>hello</body></message>");
    xml_node *c = xml_copy(m);
    xml_free(m);
    ck_assert_xml(c, "<message id=\"1\"><body>hello</body></message>");
    xml_free(c);
}
END_TEST

START_TEST(remove_child)
{
    xml_node *m = tu_stanza("<message><a/><b/><c/></message>");
    xml_remove_child(m, xml_child(m, "b", NULL));
    ck_assert_xml(m, "<message><a/><c/></message>");
    xml_remove_child(m, xml_child(m, "c", NULL));
    xml_append_new(m, "d", NULL);
    ck_assert_xml(m, "<message><a/><d/></message>");
    xml_free(m);
}
END_TEST

START_TEST(unicode_passes_through)
{
    xml_node *m =
        tu_stanza("<message><body>h\xc3\xa9llo \xf0\x9f\x98\x80 &#x263A; &lt;</body></message>");
    ck_assert_xml(
        m, "<message><body>h\xc3\xa9llo \xf0\x9f\x98\x80 \xe2\x98\xba &lt;</body></message>");
    xml_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("xml");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, build_and_serialize);
    tcase_add_test(tc, escapes_text_and_attributes);
    tcase_add_test(tc, xmlns_only_where_it_changes);
    tcase_add_test(tc, attribute_replace_and_remove);
    tcase_add_test(tc, text_concatenates_direct_children);
    tcase_add_test(tc, child_lookup_by_name_and_ns);
    tcase_add_test(tc, roundtrip_prefixes_become_namespaces);
    tcase_add_test(tc, copy_is_deep);
    tcase_add_test(tc, remove_child);
    tcase_add_test(tc, unicode_passes_through);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
