import Testing
@testable import ZKCore

/// The AdminServer's JSON, laid out as Apache's (Jackson's default pretty printer) so that answers
/// can be compared byte for byte where their values agree.
@Suite struct JSONTests {
    @Test func objectsAreLaidOutAsApachesAdminServerLaysThemOut() {
        let dirs = JSONValue.object([("datadir_size", .int(457)), ("logdir_size", .int(457)),
                                     ("command", .string("dirs")), ("error", .null)])
        // Tests/integration/data/apache-3.8-adminserver-standalone/dirs.json
        #expect(dirs.rendered == "{\n  \"datadir_size\" : 457,\n  \"logdir_size\" : 457,\n  \"command\" : \"dirs\",\n  \"error\" : null\n}")
    }

    @Test func nestingEmptyContainersAndDoubles() {
        let value = JSONValue.object([
            ("server_stats", .object([("avg_latency", .double(0)), ("ratio", .double(0.25))])),
            ("connections", .array([])), ("current_config", .object([])),
            ("list", .array([.int(1), .string("a")])), ("read_only", .bool(false)),
        ])
        #expect(value.rendered == """
            {
              "server_stats" : {
                "avg_latency" : 0.0,
                "ratio" : 0.25
              },
              "connections" : [ ],
              "current_config" : { },
              "list" : [ 1, "a" ],
              "read_only" : false
            }
            """)
    }

    @Test func stringsAreEscaped() {
        #expect(JSONValue.string("a\"b\\c\nd\u{01}é").rendered == "\"a\\\"b\\\\c\\nd\\u0001é\"")
        #expect(JSONValue.double(.nan).rendered == "null")
    }
}
