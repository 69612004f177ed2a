import Testing
@testable import ZKDataTree

@Suite struct PathUtilsTests {
    @Test(arguments: ["/", "/a", "/a/b", "/a/...", "/...", "/a.b", "/.a", "/a/..b", "/ü", "/zookeeper/quota", "/a b",
                      "/\u{a0}", "/\u{fff}", "/\u{f900}", "/\u{ffef}"])
    func valid(path: String) {
        #expect(PathUtils.isValid(path))
    }

    @Test(arguments: [
        "", "a", "a/b", "/a/", "//", "/a//b", "/.", "/..", "/a/.", "/a/..", "/a/./b", "/a/../b", "/a/b/",
        "/\u{0}", "/a\u{0}b", "/\u{1}", "/\u{1f}", "/\u{7f}", "/\u{80}", "/\u{9f}",
        "/\u{e000}", "/\u{f8ff}", "/\u{fff0}", "/\u{ffff}", "/\u{1F642}", "/a/\u{10000}",
    ])
    func invalid(path: String) {
        #expect(!PathUtils.isValid(path))
    }

    @Test(arguments: [
        ("/a", ""), ("/a/b", "/a"), ("/a/b/c", "/a/b"), ("/", ""),
    ])
    func parent(path: String, expected: String) {
        #expect(PathUtils.parent(of: path) == expected)
    }

    @Test func parentOfAPathWithoutSlashIsNil() {
        #expect(PathUtils.parent(of: "abc") == nil)
        #expect(PathUtils.parent(of: "") == nil)
    }

    @Test(arguments: [("/a", "a"), ("/a/bc", "bc"), ("/", ""), ("x", "x")])
    func childName(path: String, expected: String) {
        #expect(PathUtils.childName(of: path) == expected)
    }

    @Test(arguments: [("/", "a", "/a"), ("", "a", "/a"), ("/a", "b", "/a/b"), ("/a/b", "c", "/a/b/c")])
    func join(parent: String, child: String, expected: String) {
        #expect(PathUtils.join(parent, child) == expected)
    }
}
