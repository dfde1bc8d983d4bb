//! HTTP body compression (the DataHub REST API as the official SDKs send it (pydatahub, <https://github.com/aliyun/aliyun-datahub-sdk-python>; Java SDK, <https://github.com/aliyun/aliyun-datahub-sdk-java>)): LZ4 as a raw block without a
//! size prefix, the uncompressed size travelling in the signed `x-datahub-content-raw-size`
//! header. Like pydatahub, a body is sent compressed only when the block is smaller.

/// `Content-Encoding` value for LZ4.
pub(crate) const LZ4: &str = "lz4";

/// The raw LZ4 block of `body` when it is smaller than `body`, else None.
pub(crate) fn lz4_if_smaller(body: &[u8]) -> Option<Vec<u8>> {
    let block = lz4_flex::block::compress(body);
    (block.len() < body.len()).then_some(block)
}

/// Decompresses a raw LZ4 block of `raw_size` bytes.
pub(crate) fn lz4_decompress(block: &[u8], raw_size: usize) -> Result<Vec<u8>, String> {
    let out = lz4_flex::block::decompress(block, raw_size).map_err(|e| format!("bad lz4 block: {e}"))?;
    if out.len() != raw_size {
        return Err(format!("lz4 block holds {} bytes, raw size says {raw_size}", out.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lz4_round_trip_and_only_when_smaller() {
        let body: Vec<u8> = br#"{"Action":"pub","Records":[{"Data":"aGVsbG8=","Attributes":{"op":"c"}}]}"#.repeat(50);
        let block = lz4_if_smaller(&body).expect("repetitive JSON compresses");
        assert!(block.len() < body.len());
        assert_eq!(lz4_decompress(&block, body.len()).unwrap(), body);
        assert!(lz4_decompress(&block, body.len() + 1).is_err());
        // Random bytes do not compress: sent as is.
        let noise: Vec<u8> = (0..256u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        assert!(lz4_if_smaller(&noise).is_none());
        assert!(lz4_if_smaller(b"").is_none());
    }
}
