import ArgumentParser
import AtlasImage

/// The `--preprocess` help every command shows; the words and their meaning are `Preprocess.parse`'s.
enum PreprocessHelp {
    static let option = ArgumentHelp("Model input normalisation: \(Preprocess.vocabulary). auto: the model's sidecar, else imagenet (RGB) or unit (gray).")

    /// A paragraph for command discussions.
    static let discussion = """
    --preprocess auto reads a sidecar next to the model (MODEL.json, else model.json) holding \
    {"preprocess": {"mean": [...], "std": [...]}} or {"range": [-117, 138]}; without one RGB models get ImageNet \
    mean/std and gray ones [0, 1] images, in every command alike. Other values: imagenet, inception (Lucid \
    InceptionV1, −117…138), unit ([0, 1]), none (raw 0…255), mean:M,std:S (numbers separated by '/'), range:LO:HI.
    """
}
