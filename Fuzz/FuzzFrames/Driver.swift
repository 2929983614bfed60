import FuzzDriver

// SwiftPM links this target's entry point as `FuzzFrames_main`.
@_cdecl("FuzzFrames_main")
func fuzzFramesMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv) { data, size in fuzzFrames(data, size) }
}
