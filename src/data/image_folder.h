// ImageNet-style image folders, decoded lazily (only the file list is kept in memory).
//
// Layouts (class index = position of the class folder name in byte-wise sorted order):
//   train split: DIR/train/<class>/<image>  or, without DIR/train, DIR/<class>/<image>
//   test split:  DIR/val/<class>/<image>    (class list from DIR/train when it exists)
//                DIR/val/<image> (flat) + a label file (see docs/data.md for the formats)
// Images: *.JPEG, *.jpg, *.jpeg, *.png (any case); the content decides the decoder.
#pragma once

#include <memory>
#include <string>

#include "data/dataset.h"

namespace teesplit {

std::unique_ptr<Dataset> open_image_folder(const std::string& dir, const DatasetOptions& opt);

}  // namespace teesplit
