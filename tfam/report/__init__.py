"""What people look at: TensorBoard helpers, spectrogram and confusion pictures and the HTML gallery
(``summaries``), and the pictures of attribution maps (``explain_plots``)."""
