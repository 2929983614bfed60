import FuzzDriver

// SwiftPM links this target's entry point as `FuzzDispatch_main`.
@_cdecl("FuzzDispatch_main")
func fuzzDispatchMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv) { data, size in fuzzDispatch(data, size) }
}
