// LMDB's data file read with read(2) instead of through LMDB's map, for the one
// question the map cannot answer safely: whether the pages past the end of a short
// file are free. (LMDB does not write the pages a transaction allocates and frees
// again, so its file may end before its last page; a read of a missing page through
// the map faults with SIGBUS.)
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "storage/storage.h"

namespace aethel::storage::lmdb {

// The page numbers on the free list of data file `data_path` as committed by
// transaction `txnid`, in ascending order. A meta page, list page or overflow page
// that is missing, lies past the end of the file or does not parse is kCorruption
// naming the file and page.
Result<std::vector<std::uint64_t>> free_pages(const std::filesystem::path& data_path,
                                              std::uint32_t page_bytes, std::uint64_t txnid);

}  // namespace aethel::storage::lmdb
