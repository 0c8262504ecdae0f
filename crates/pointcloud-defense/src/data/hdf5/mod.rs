//! Pure-Rust HDF5 (no libhdf5) for the ModelNet40 point-cloud files.
//!
//! **Reader** ([`H5File`]): numeric datasets (integers of 1–8 bytes, `f32`,
//! `f64`, either byte order) of files written by h5py/libhdf5 1.8–1.14:
//!
//! * superblock v0/v1 (h5py's default) and v2/v3 (`libver='v108'`/`'latest'`),
//!   a user block before the superblock;
//! * object headers v1 and v2 (with continuation blocks; v2 checksums verified);
//! * groups with a symbol table (B-tree v1 + local heap) or with compact link
//!   messages; nested paths such as `"group/data"`;
//! * compact, contiguous and chunked storage; chunk indexes: B-tree v1 (layout
//!   v3), single chunk, implicit and fixed array (paged or not; layout v4);
//! * filters: deflate (gzip), shuffle and fletcher32 (checksum verified).
//!
//! Not supported (a clear error names it): dense link storage (groups with more
//! than 8 members written with `libver='latest'`), extensible-array and
//! v2-B-tree chunk indexes (datasets created with an unlimited `maxshape`),
//! shared/committed datatypes, szip/nbit/scaleoffset and third-party filters,
//! non-numeric types. Every read is bounds-checked: a truncated or corrupt file
//! gives an `Err` naming the file and the structure, never a panic.
//!
//! **Bounded resources.** What the reader allocates and reads is bounded by the file's
//! size: a dataset may hold at most [`max_data_bytes`]`(file size)` bytes
//! ([`MAX_EXPANSION`] per byte of file, deflate's limit, plus [`DATA_SLACK`]), checked
//! from its shape before anything is allocated, so a 1 KiB file claiming a 1 GB extent
//! is an error; sizes are multiplied with overflow checks; the metadata one traversal
//! reads (an object header and its continuation blocks, a group's B-tree and symbol
//! nodes, a chunk B-tree) and the chunks one dataset reads may not add up to more than
//! the file, so overlapping or repeated structures cannot multiply the work.
//!
//! **Writer** ([`encode_h5`], [`write_h5`], [`write_modelnet_h5`]): up to
//! [`MAX_DATASETS`] contiguous `f32`/`u8`/`i32` datasets in the root group, in
//! h5py's default format (superblock v0, object header v1, symbol-table group),
//! readable by h5py (checked by `tools/pointcloud_make_h5_fixtures.py`).

mod checksum;
mod reader;
mod writer;

pub use checksum::{fletcher32, lookup3};
pub use reader::{max_data_bytes, H5Dataset, H5File, H5Type, DATA_SLACK, MAX_EXPANSION};
pub use writer::{
    encode_h5, encode_modelnet_h5, write_h5, write_modelnet_h5, H5Data, H5WriteDataset,
    MAX_DATASETS,
};
