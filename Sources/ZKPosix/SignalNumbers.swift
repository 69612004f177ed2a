import Glibc

/// Signal numbers for modules that do not import Glibc.
public let SIGTERM_VALUE: Int32 = SIGTERM
public let SIGINT_VALUE: Int32 = SIGINT
