"""AD-CGAN as the last step of a scikit-learn Pipeline: flat 784-pixel rows in, 0/1 anomaly labels out."""
from sklearn.datasets import fetch_openml
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from adcgan import ADCGAN
from adcgan.evaluation.protocols import paper_epochs

X, y = fetch_openml("Fashion-MNIST", version=1, return_X_y=True, as_frame=False)  # 70,000 rows, pixels 0..255
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=1 / 7, shuffle=False)  # 60,000 / 10,000
to_images = FunctionTransformer(lambda rows: (rows / 255.0).reshape(-1, 28, 28, 1))  # NHWC floats in [0, 1]
epochs, warmup = paper_epochs("one-vs-all")  # the paper's budget: 15 + 5 epochs
pipe = make_pipeline(to_images, ADCGAN(epochs=epochs, warmup_epochs=warmup, contamination=0.05))
pipe.fit(X_train[y_train == "1"])  # normal images only: class 1 (trouser)
labels, proba = pipe.predict(X_test), pipe.predict_proba(X_test)[:, 1]  # 1 = anomaly; P(anomaly)
