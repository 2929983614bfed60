import CBLAS
import Testing

/// OpenBLAS is linked through the CBLAS system-library target.
@Test func cblasDotProduct() {
    let x: [Float] = [1, 2, 3]
    let y: [Float] = [4, 5, 6]
    #expect(cblas_sdot(3, x, 1, y, 1) == 32)
}
