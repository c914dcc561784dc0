import pytest

from mlcore.data.labels_csv import DataError, read_labels_csv


def write(tmp_path, text):
    path = tmp_path / "labels.csv"
    path.write_text(text)
    return path


def test_it_reads_splits_relative_paths_and_skips_empty_labels(tmp_path):
    path = write(
        tmp_path,
        "path,product,split,colour,sleeve\n"
        "a.png,p1,train,red,long\n"
        "b.png,p1,test,blue,\n"
        "c.png,p2,train,,short\n"
        "/abs/d.png,p3,,red,long\n",
    )

    data = read_labels_csv(path, attribute="colour")

    assert data.label_names == ["blue", "red"]
    assert data.train == [(str(tmp_path / "a.png"), 1), ("/abs/d.png", 1)]
    assert data.test == [(str(tmp_path / "b.png"), 0)]
    assert data.unlabelled == 1 and data.has_split


def test_a_given_label_order_is_kept(tmp_path):
    path = write(tmp_path, "path,colour\na.png,red\nb.png,blue\n")

    data = read_labels_csv(path, attribute="colour", label_names=["red", "blue", "green"])

    assert [y for _, y in data.train] == [0, 1]


@pytest.mark.parametrize(
    ("text", "attribute", "message"),
    [
        ("path,colour\na.png,red\n", "size", r"unknown attribute 'size'.*'colour'"),
        ("file,colour\na.png,red\n", "colour", "no 'path' column"),
        ("path,split,colour\na.png,val,red\n", "colour", "line 2: split 'val'"),
        ("path,colour\n,red\n", "colour", "line 2: empty path"),
    ],
)
def test_bad_csvs_raise_data_error_naming_the_problem(tmp_path, text, attribute, message):
    with pytest.raises(DataError, match=message):
        read_labels_csv(write(tmp_path, text), attribute=attribute)


def test_a_missing_csv_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="labels CSV not found"):
        read_labels_csv(tmp_path / "none.csv", attribute="a")
